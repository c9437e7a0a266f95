"""Autovacuum's work for the pipeline's databases when the server's autovacuum is off.

A production PostgreSQL runs autovacuum: it vacuums tables whose dead rows (updated, deleted) or inserts since
their last vacuum pass a threshold, and analyzes those changed enough since their last analysis; the planner picks
index scans from the statistics, and scans do not walk dead rows that vacuum removed. This machine's server runs
with ``autovacuum = off`` (a CI setting, ``/etc/postgresql/15/main/conf.d/90-ci.conf``), so a table filled during a
replay is never analyzed nor vacuumed: the planner, left without statistics, scans whole tables for the batches'
``= ANY`` lookups, and queue-like tables (the outboxes, pages changing state) keep every dead row in their heap and
indexes for each scan to step over, a cost that grows with every report stored.

``AutoVacuum`` does what autovacuum would with its default settings, and only when the server's own is off: every
``interval_s`` it vacuums the tables with more than ``50 + 0.2 x rows`` dead rows or ``1000 + 0.2 x rows`` inserts
since their last vacuum (``autovacuum_vacuum_threshold``/``_scale_factor``, ``autovacuum_vacuum_insert_threshold``/
``_scale_factor``), then analyzes those changed by more than ``50 + 0.1 x rows`` since their last analysis
(``autovacuum_analyze_threshold``/``_scale_factor``). It keeps one connection per database open for the whole
run, so its backends are among those serving the pipeline's databases when the bench lists them: their CPU is
counted with PostgreSQL's, as autovacuum's workers' would be on a production server. Its sessions are throttled as
autovacuum's workers are (``vacuum_cost_delay``/``_limit`` set to the server's ``autovacuum_vacuum_cost_delay``/
``_limit``): unthrottled, as a manual VACUUM is, each round's burst of vacuuming took the machine from the pipeline
for a second and showed in its latency at 200 reports/s every 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

log = logging.getLogger("bench.autovacuum")

ANALYZE_THRESHOLD, ANALYZE_SCALE = 50, 0.1  # autovacuum_analyze_threshold, _scale_factor (defaults)
VACUUM_THRESHOLD, VACUUM_SCALE = 50, 0.2  # autovacuum_vacuum_threshold, _scale_factor
INSERT_THRESHOLD, INSERT_SCALE = 1000, 0.2  # autovacuum_vacuum_insert_threshold, _scale_factor
TO_VACUUM = (
    "SELECT relname FROM pg_stat_user_tables WHERE n_dead_tup > $1 + $2 * n_live_tup "
    "OR n_ins_since_vacuum > $3 + $4 * n_live_tup ORDER BY relname"
)
TO_ANALYZE = "SELECT relname FROM pg_stat_user_tables WHERE n_mod_since_analyze > $1 + $2 * n_live_tup ORDER BY relname"


@dataclass(frozen=True)
class Maintained:
    """One round in one database: the tables vacuumed and those analyzed."""

    dsn: str
    vacuumed: tuple[str, ...]
    analyzed: tuple[str, ...]


async def autovacuum_is_on(dsn: str) -> bool:
    """Whether the server's autovacuum runs (then nothing needs doing here)."""
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SHOW autovacuum")) == "on"
    finally:
        await conn.close()


async def throttle_as_autovacuum(conn: asyncpg.Connection) -> None:
    """Give the session autovacuum's cost-based delay and limit (a limit of -1 means ``vacuum_cost_limit``)."""
    delay = str(await conn.fetchval("SHOW autovacuum_vacuum_cost_delay"))
    limit = int(await conn.fetchval("SHOW autovacuum_vacuum_cost_limit"))
    if limit < 0:
        limit = int(await conn.fetchval("SHOW vacuum_cost_limit"))
    await conn.execute("SELECT set_config('vacuum_cost_delay', $1, false), set_config('vacuum_cost_limit', $2, false)",
                       delay, str(limit))  # fmt: skip


async def maintain(conn: asyncpg.Connection, dsn: str = "") -> Maintained:
    """Vacuum, then analyze, the tables of ``conn``'s database that autovacuum's default thresholds pick."""
    vacuum = tuple(r[0] for r in await conn.fetch(TO_VACUUM, VACUUM_THRESHOLD, VACUUM_SCALE, INSERT_THRESHOLD,
                                                  INSERT_SCALE))  # fmt: skip
    for table in vacuum:
        await conn.execute(f'VACUUM "{table}"')
    analyze = tuple(r[0] for r in await conn.fetch(TO_ANALYZE, ANALYZE_THRESHOLD, ANALYZE_SCALE))
    for table in analyze:
        await conn.execute(f'ANALYZE "{table}"')
    return Maintained(dsn, vacuum, analyze)


class AutoVacuum:
    """Background rounds of ``maintain`` over some databases, while the server's autovacuum is off."""

    def __init__(self, dsns: Sequence[str], interval_s: float = 15.0) -> None:
        self.dsns = list(dsns)
        self.interval_s = interval_s
        self.rounds = 0
        self.vacuumed = 0
        self.analyzed = 0
        self._conns: dict[str, asyncpg.Connection] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> bool:
        """Connect and start the rounds, unless the server vacuums by itself; whether they run."""
        if not self.dsns or await autovacuum_is_on(self.dsns[0]):
            return False
        self._conns = {dsn: await asyncpg.connect(dsn) for dsn in self.dsns}
        for conn in self._conns.values():
            await throttle_as_autovacuum(conn)
        self._task = asyncio.create_task(self._run())
        return True

    @property
    def running(self) -> bool:
        """Whether its rounds run (started, and the server's own autovacuum is off)."""
        return self._task is not None

    async def round(self) -> list[Maintained]:
        """One pass over the databases (a database that fails is skipped until the next pass)."""
        done: list[Maintained] = []
        for dsn, conn in self._conns.items():
            try:
                done.append(await maintain(conn, dsn))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("autovacuum of a pipeline database failed: %s", type(exc).__name__)
        self.rounds += 1
        self.vacuumed += sum(len(m.vacuumed) for m in done)
        self.analyzed += sum(len(m.analyzed) for m in done)
        return done

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.round()

    async def stop(self) -> None:
        """Stop the rounds and close the connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for conn in self._conns.values():
            with contextlib.suppress(Exception):
                await conn.close()
        self._conns = {}
