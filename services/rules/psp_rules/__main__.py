"""Run the rules service: ``python -m psp_rules``."""

from psp_rules.bootstrap import main

main()
