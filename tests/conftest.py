"""Fixtures: a real Kafka-protocol broker and real PostgreSQL databases.

Broker: ``PSP_TEST_KAFKA_BOOTSTRAP`` if set, else testcontainers Kafka when a Docker engine answers,
else a Tansu process started here. PostgreSQL: ``PSP_TEST_POSTGRES_DSN`` (default the local server on
127.0.0.1:5432, database ``test``), else testcontainers when Docker answers. When ``PSP_REQUIRE_POSTGRES=1``
(set by CI) a missing PostgreSQL fails the run instead of skipping. Time: every in-process ``SystemClock``
is pinned to ``tests.clock.TEST_NOW`` (see tests/clock.py).

``PSP_ENV=dev`` for the whole run (settings built here and service processes started here): the tests use the
packaged dev secrets, which production refuses.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from psp_common.embedded import EmbeddedBroker
from tests.clock import PinnedClock, pin_system_clock
from tests.support import fresh_database, pg_dsn

os.environ["PSP_ENV"] = "dev"


@pytest.fixture(scope="session", autouse=True)
def pinned_clock() -> Iterator[PinnedClock]:
    """Every in-process SystemClock starts at ``tests.clock.TEST_NOW``: no test depends on today's date.

    Session-wide, so module- and session-scoped apps (and their background loops) see the same clock as the
    tests, including between tests.
    """
    with pytest.MonkeyPatch.context() as patch:
        yield pin_system_clock(patch)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real Kafka-protocol broker for the whole session."""
    env = os.environ.get("PSP_TEST_KAFKA_BOOTSTRAP")
    if env:
        os.environ.setdefault("PSP_KAFKA_IDEMPOTENCE", "true")
        yield env
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    broker = EmbeddedBroker().start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_idempotence(kafka_bootstrap: str) -> bool:
    """Idempotent producer only where the broker supports it (not Tansu)."""
    return bool(os.environ.get("PSP_TEST_KAFKA_BOOTSTRAP")) or _docker_answers()


def _require_pg() -> bool:
    return os.environ.get("PSP_REQUIRE_POSTGRES") == "1" or os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """Admin DSN of a PostgreSQL server (fails in CI when none answers, skips elsewhere)."""
    dsn = pg_dsn()

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
        yield dsn
        return
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {dsn}: {type(exc).__name__}"
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as pg:
            yield pg.get_connection_url()
        return
    if _require_pg():
        pytest.fail(reason + " (required: PSP_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


@pytest.fixture
async def pg_url(pg_admin_dsn: str) -> AsyncIterator[str]:
    """SQLAlchemy async URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    async with fresh_database(pg_admin_dsn) as (_, url):
        yield url


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """SQLAlchemy async URL of a fresh SQLite file (unit tests only)."""
    return f"sqlite+aiosqlite:///{tmp_path}/t.db"
