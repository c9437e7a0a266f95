"""Alembic environment of the listener."""

from psp_common.audit import audit_table
from psp_common.migrations import run_env
from psp_listener.adapters.orm import metadata

audit_table(metadata)
run_env(metadata)
