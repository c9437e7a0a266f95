"""Run the listener: ``python -m psp_listener``."""

from psp_listener.bootstrap import main

main()
