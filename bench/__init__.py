"""PSP Outreach benchmark: open-loop load against a raw relay, a FastStream relay and the full pipeline."""
