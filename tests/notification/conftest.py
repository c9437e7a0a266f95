"""Fixtures of the notification unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.notification.support import Env, app_env


@pytest.fixture
async def env(sqlite_url: str) -> AsyncIterator[Env]:
    """App on SQLite, fake clock at T0, recording console and webhook channels."""
    async with app_env(sqlite_url) as e:
        yield e
