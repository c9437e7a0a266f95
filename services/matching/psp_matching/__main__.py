"""Run the matching service: ``python -m psp_matching``."""

from psp_matching.bootstrap import main

main()
