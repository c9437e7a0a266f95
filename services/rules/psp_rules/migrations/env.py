"""Alembic environment of the rules service."""

from psp_common.migrations import run_env
from psp_rules.adapters.orm import metadata

run_env(metadata)
