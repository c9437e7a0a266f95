"""A stack of the four services as separate processes, each on its own PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from psp_common.devrun import LINKS_FILE
from psp_common.stack import SERVICES, Stack
from tests.clock import STACK_ENV
from tests.support import create_database, drop_database


@asynccontextmanager
async def running_stack(
    kafka_bootstrap: str,
    kafka_idempotence: bool,
    pg_admin_dsn: str,
    workdir: Path,
    extra_env: dict[str, str],
    apps: tuple[str, ...] = (),
) -> AsyncIterator[Stack]:
    """The four services on the session broker, each on a fresh PostgreSQL database dropped afterwards.

    ``apps`` (of ``psp_common.stack.APPS``): the dev identity provider (every service then trusts its tokens) and
    the console (on its own PostgreSQL database), as ``make run`` starts them.
    """
    dbs = {name: await create_database(pg_admin_dsn) for name in SERVICES + tuple(a for a in apps if a == "console")}
    s = Stack(
        workdir=workdir,
        database_urls={n: url for n, (_, url) in dbs.items()},
        bootstrap=kafka_bootstrap,
        idempotence=kafka_idempotence,
        extra_env={**STACK_ENV, **extra_env},
        apps=apps,
    )
    s.start_broker()
    s.start()
    try:
        await s.wait_ready(timeout=120)
        yield s
    finally:
        s.stop()
        for dsn, _ in dbs.values():
            await drop_database(pg_admin_dsn, dsn.rsplit("/", 1)[1])


@pytest.fixture
async def stack(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_admin_dsn: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    """All four services running against the session broker; logs and (dev) the page links file in tmp_path."""
    links = {"PSP_DEV_LINKS_FILE": str(tmp_path / LINKS_FILE)}  # the console channel's full links (dev)
    async with running_stack(kafka_bootstrap, kafka_idempotence, pg_admin_dsn, tmp_path, links) as s:
        yield s
