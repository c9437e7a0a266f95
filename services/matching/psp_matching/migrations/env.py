"""Alembic environment of the matching service."""

from psp_common.migrations import run_env
from psp_matching.adapters.orm import metadata

run_env(metadata)
