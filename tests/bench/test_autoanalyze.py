"""The bench's stand-in for autoanalyze on a server whose autovacuum is off (bench/autoanalyze.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from bench.autoanalyze import AutoAnalyze, analyze_stale, autovacuum_is_on
from tests.support import create_database, drop_database, eventually

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn, _ = await create_database(pg_admin_dsn)
    try:
        yield dsn
    finally:
        await drop_database(pg_admin_dsn, dsn.rsplit("/", 1)[1])


async def _fill(dsn: str, table: str, rows: int) -> None:
    conn = await asyncpg.connect(dsn)  # closing it flushes its table statistics
    try:
        await conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        await conn.execute(f"INSERT INTO {table} SELECT generate_series(1, $1)", rows)
    finally:
        await conn.close()


async def _last_analyzed(dsn: str) -> dict[str, bool]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables")
        return {r[0]: r[1] for r in rows}
    finally:
        await conn.close()


async def test_tables_past_autoanalyzes_threshold_are_analyzed_once(db: str) -> None:
    await _fill(db, "big", 500)  # 500 changes > 50 + 0.1 x 500
    await _fill(db, "small", 20)  # 20 changes < 50: autoanalyze would leave it

    async def analyzed_big() -> bool:
        return "big" in (await analyze_stale(db)).tables

    await eventually(analyzed_big, timeout=15)  # statistics reach the server's counters within a second or so
    assert await _last_analyzed(db) == {"big": True, "small": False}
    assert "big" not in (await analyze_stale(db)).tables  # fresh now: not analyzed again


async def test_rounds_run_only_when_the_servers_autovacuum_is_off(db: str) -> None:
    runner = AutoAnalyze([db], interval_s=3600)
    started = await runner.start()
    try:
        assert started is not await autovacuum_is_on(db)
        await _fill(db, "big", 500)

        async def counted() -> bool:
            await runner.round()
            return runner.analyzed >= 1

        await eventually(counted, timeout=15)
    finally:
        await runner.stop()
