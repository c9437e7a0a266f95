"""Table statistics for the pipeline's databases when the server's autovacuum is off.

A production PostgreSQL runs autovacuum, whose autoanalyze keeps each table's statistics fresh; the planner picks
index scans from them. This machine's server runs with ``autovacuum = off`` (a CI setting,
``/etc/postgresql/15/main/conf.d/90-ci.conf``), so a table filled during a replay is never analyzed, and the
planner, left without statistics, scans whole tables for the batches' ``= ANY``/``IN`` lookups: a cost that grows
with every report stored (the 100,000-report replay's PostgreSQL CPU per report rose with it). ``AutoAnalyze``
does what autoanalyze would with its default settings, and only when the server's own is off: every
``interval_s`` it analyzes the tables changed by more than ``50 + 0.1 x rows`` since their last analysis
(``autovacuum_analyze_threshold`` and ``autovacuum_analyze_scale_factor``). Its backends serve the pipeline's
databases, so their CPU is counted with PostgreSQL's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

log = logging.getLogger("bench.autoanalyze")

THRESHOLD = 50  # autovacuum_analyze_threshold's default
SCALE_FACTOR = 0.1  # autovacuum_analyze_scale_factor's default
STALE = "SELECT relname FROM pg_stat_user_tables WHERE n_mod_since_analyze > $1 + $2 * n_live_tup ORDER BY relname"


@dataclass(frozen=True)
class Analyzed:
    """One round: the tables analyzed in one database."""

    dsn: str
    tables: tuple[str, ...]


async def autovacuum_is_on(dsn: str) -> bool:
    """Whether the server's autovacuum runs (then nothing needs doing here)."""
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SHOW autovacuum")) == "on"
    finally:
        await conn.close()


async def analyze_stale(dsn: str) -> Analyzed:
    """Analyze the tables of one database that autoanalyze's default thresholds call stale."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = tuple(r[0] for r in await conn.fetch(STALE, THRESHOLD, SCALE_FACTOR))
        for table in tables:
            await conn.execute(f'ANALYZE "{table}"')
        return Analyzed(dsn, tables)
    finally:
        await conn.close()


class AutoAnalyze:
    """Background rounds of ``analyze_stale`` over some databases, while the server's autovacuum is off."""

    def __init__(self, dsns: Sequence[str], interval_s: float = 15.0) -> None:
        self.dsns = list(dsns)
        self.interval_s = interval_s
        self.rounds = 0
        self.analyzed = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> bool:
        """Start the rounds unless the server analyzes by itself; whether they run."""
        if not self.dsns or await autovacuum_is_on(self.dsns[0]):
            return False
        self._task = asyncio.create_task(self._run())
        return True

    async def round(self) -> list[Analyzed]:
        """One pass over the databases (a database that fails is skipped until the next pass)."""
        done: list[Analyzed] = []
        for dsn in self.dsns:
            try:
                done.append(await analyze_stale(dsn))
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("autoanalyze of a pipeline database failed: %s", type(exc).__name__)
        self.rounds += 1
        self.analyzed += sum(len(a.tables) for a in done)
        return done

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.round()

    async def stop(self) -> None:
        """Stop the rounds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
