"""Run the notification service: ``python -m psp_notification``."""

from psp_notification.bootstrap import main

main()
