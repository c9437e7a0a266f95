"""Alembic environment of the console."""

from psp_common.migrations import run_env
from psp_console.adapters.orm import metadata

run_env(metadata)
