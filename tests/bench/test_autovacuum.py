"""The bench's stand-in for autovacuum on a server whose autovacuum is off (bench/autovacuum.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from bench.autovacuum import AutoVacuum, autovacuum_is_on, maintain
from bench.cpu import postgres_backends
from tests.support import eventually, fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db(pg_admin_dsn: str) -> AsyncIterator[str]:
    async with fresh_database(pg_admin_dsn) as (dsn, _):
        yield dsn


async def _run(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)  # closing it flushes its table statistics
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _fill(dsn: str, table: str, rows: int) -> None:
    await _run(
        dsn, f"CREATE TABLE {table} (id int PRIMARY KEY)", f"INSERT INTO {table} SELECT generate_series(1, {rows})"
    )


async def _maintained(dsn: str) -> dict[str, tuple[bool, bool]]:
    """Per table: (vacuumed, analyzed) by hand at least once."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT relname, last_vacuum IS NOT NULL, last_analyze IS NOT NULL FROM pg_stat_user_tables"
        )
        return {r[0]: (r[1], r[2]) for r in rows}
    finally:
        await conn.close()


async def _maintain(dsn: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        done = await maintain(conn, dsn)
        return done.vacuumed, done.analyzed
    finally:
        await conn.close()


async def test_tables_past_autovacuums_thresholds_are_vacuumed_and_analyzed_once(db: str) -> None:
    await _fill(db, "queue", 500)
    await _run(db, "DELETE FROM queue WHERE id <= 400")  # 400 dead rows > 50 + 0.2 x 100 live: vacuumed
    await _fill(db, "big", 500)  # 500 changes > 50 + 0.1 x 500: analyzed; 500 inserts < 1000: not vacuumed
    await _fill(db, "small", 20)  # under every threshold: autovacuum would leave it

    async def picked() -> bool:
        vacuumed, analyzed = await _maintain(db)
        return "queue" in vacuumed and "big" in analyzed

    await eventually(picked, timeout=15)  # statistics reach the server's counters within a second or so
    state = await _maintained(db)
    assert state["queue"][0] and state["big"] == (False, True) and state["small"] == (False, False)
    assert await _maintain(db) == ((), ())  # done now: nothing picked again


async def test_rounds_run_only_when_the_servers_autovacuum_is_off_on_backends_the_bench_counts(db: str) -> None:
    runner = AutoVacuum([db], interval_s=3600)
    before = set(await postgres_backends(db, [db.rsplit("/", 1)[1]]))
    started = await runner.start()
    try:
        assert started is not await autovacuum_is_on(db)
        if not started:
            return
        # Its connection stays open: the bench lists its backend with the pipeline's (its CPU is counted).
        assert set(await postgres_backends(db, [db.rsplit("/", 1)[1]])) - before
        # ... and vacuums throttled as autovacuum's workers are, not in bursts as a manual VACUUM.
        (conn,) = runner._conns.values()
        assert await conn.fetchval("SHOW vacuum_cost_delay") == await conn.fetchval("SHOW autovacuum_vacuum_cost_delay")
        assert await conn.fetchval("SHOW vacuum_cost_delay") != "0"
        assert int(await conn.fetchval("SHOW vacuum_cost_limit")) > 0
        await _fill(db, "big", 500)

        async def counted() -> bool:
            await runner.round()
            return runner.analyzed >= 1

        await eventually(counted, timeout=15)
    finally:
        await runner.stop()
