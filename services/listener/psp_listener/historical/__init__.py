"""Historical import: past occurrence reports from a CSV export (RL6, Datix, ...) through the normal intake.

``python -m psp_listener.historical import reports.csv --mapping mapping.yaml``: each row is mapped to a native
occurrence report (``mapping.py``), validated, stripped and pseudonymized by the same code as a live report, and
stored and queued marked ``historical`` (rules decide and count it, never page). ``importer.py`` commits in
batches and records the last committed row in a checkpoint file, so an interrupted run resumes where it stopped;
rows re-sent after a crash are no-ops through the listener's report-version dedupe. See the listener README.
"""
