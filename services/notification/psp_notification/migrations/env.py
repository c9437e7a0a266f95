"""Alembic environment of the notification service."""

from psp_common.migrations import run_env
from psp_notification.adapters.orm import metadata

run_env(metadata)
