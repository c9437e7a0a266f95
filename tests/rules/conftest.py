"""Rules runtimes on PostgreSQL for the set-based tests (modules on SQLite define their own ``rt``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_rules.adapters.orm import metadata
from psp_rules.bootstrap import MIGRATIONS
from psp_rules.settings import RulesSettings
from tests.support import create_database, drop_database


@pytest.fixture
async def rt(pg_url: str) -> AsyncIterator[Runtime]:
    """The rules database on PostgreSQL, migrated."""
    await upgrade_async(MIGRATIONS, pg_url)
    runtime = Runtime(RulesSettings(database_url=pg_url), metadata, MIGRATIONS)
    yield runtime
    await runtime.engine.dispose()


@pytest.fixture
async def rt2(pg_admin_dsn: str) -> AsyncIterator[Runtime]:
    """A second, independent rules database."""
    dsn, url = await create_database(pg_admin_dsn)
    await upgrade_async(MIGRATIONS, url)
    runtime = Runtime(RulesSettings(database_url=url), metadata, MIGRATIONS)
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()
        await drop_database(pg_admin_dsn, dsn.rsplit("/", 1)[1])
