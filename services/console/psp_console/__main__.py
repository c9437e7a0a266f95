"""Run the console: ``python -m psp_console``."""

from psp_console.bootstrap import main

main()
