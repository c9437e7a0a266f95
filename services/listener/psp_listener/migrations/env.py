"""Alembic environment of the listener."""

from psp_common.migrations import run_env
from psp_listener.adapters.orm import metadata

run_env(metadata)
