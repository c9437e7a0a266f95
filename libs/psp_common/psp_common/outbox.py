"""Outbox relay: publishes committed outbox rows in order, then deletes them (at least once).

Rows this process committed come in memory from the commit (psp_common.outbox_rows) and are published without
reading them back; the table is read at start, after a failure, at each idle poll, and whenever it holds rows the
relay was not handed (another instance's, a crashed process's, or more than the signal keeps), until a read finds
less than a batch. Not after every round that published what it held: a queue table's deleted rows stay until
VACUUM, so each such read cost in proportion to the history (see ``_table_round``).

Several instances of a service share its database, each with a relay. Only one relay at a time reads and
publishes (a PostgreSQL advisory lock held for the round's transaction); the others stand by and poll. Two
relays publishing neighbouring rows at once would let a later event of a case overtake an earlier one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy import Table, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from psp_common.kafka.doorbell import Doorbell
from psp_common.locks import lock_key, try_lock
from psp_common.outbox_rows import OutboxRow, OutboxSignal
from psp_common.outbox_send import send_rows

log = logging.getLogger("psp.outbox")


@functools.cache
def _claim_pg(outbox: Table) -> Any:
    """Take the relay lock, count the rows up to the last held id, and delete the held rows (one statement).

    The deletes commit only once the publishes are confirmed. A row another relay deleted meanwhile is not
    deleted again (its row lock waits for that relay's commit), so a mismatch sends the round to the table.
    The count stops at one more than the held rows (all it needs to tell a mismatch): in id order through the
    primary key, not a count of a whole backlog, nor a bitmap scan, which returned every deleted row VACUUM had
    not removed yet, round after round (an index scan marks them dead for the next ones).
    """
    t = outbox.name  # a table name from the service's metadata, never input
    return text(
        f"WITH gone AS (DELETE FROM {t} WHERE id = ANY(CAST(:ids AS bigint[])) RETURNING id) "  # noqa: S608
        "SELECT pg_try_advisory_xact_lock(:key), "
        f"(SELECT count(*) FROM (SELECT 1 FROM {t} WHERE id <= :max ORDER BY id LIMIT :upto) AS seen), "
        "(SELECT count(*) FROM gone)"
    )


_NO_SEQSCAN = text("SET LOCAL enable_seqscan = off")


class OutboxRelay:
    """Background task moving rows from the outbox table to Kafka."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Table,
        broker: KafkaBroker,
        signal: OutboxSignal,
        *,
        batch: int = 200,
        idle_poll_s: float = 0.5,
        standby_poll_s: float = 0.05,
        doorbell: Doorbell | None = None,
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._broker = broker
        self._signal = signal
        self._batch = batch
        self._idle = idle_poll_s
        self._standby_poll = standby_poll_s
        self._doorbell = doorbell  # rung with the topics of each published round: idle subscribers wake at once
        self._lock_name = f"psp.outbox:{outbox.name}"
        self._lock_key = lock_key(self._lock_name)
        self.standby = False  # the last round found another relay publishing
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.published = 0
        self.from_memory = 0  # of which published as handed over by the commit, without reading the table
        self.look = True  # the table may hold rows this relay was not handed: read it when nothing is held
        # A memory round found such rows older than those it holds (a backlog past the signal's capacity): the
        # table is read, not the held rows tried first, until a read finds less than a batch. Each try counted
        # the whole backlog and deleted the held rows, only to roll back and read the table anyway.
        self.behind = False

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; return how many were published.

        Rows this process committed are published from memory when the table holds nothing older that this
        relay does not hold (another instance's rows, a crashed process's): then one statement claims them
        (deletes them, uncommitted until the publishes are confirmed). Otherwise the round reads the table.
        """
        if self._signal.dropped:  # what it dropped is older than anything it holds
            self._signal.dropped, self.look, self.behind = False, True, True
        held = self._signal.oldest(self._batch)
        if held and not self.behind:
            done = await self._memory_round(held)
            if done is not None:
                return done
            self.look = self.behind = True  # the table has rows it does not hold: read it until it caught up
        elif not held and not self.look:
            return 0
        return await self._table_round(held[-1].id if held else None)

    async def _memory_round(self, held: list[OutboxRow]) -> int | None:
        """Publish ``held`` unless the table says otherwise; None: read the table instead."""
        ids = [r.id for r in held]
        async with self._engine.connect() as conn:
            trans = await conn.begin()
            try:
                locked, seen, gone = await self._claim(conn, ids)
                self.standby = not locked
                if not locked or seen != len(ids) or gone != len(ids):  # standing by, or rows it does not hold
                    await trans.rollback()
                    return 0 if not locked else None
                await self._publish(held)
                await trans.commit()
            except BaseException:
                await trans.rollback()
                raise
        self._signal.forget(ids)
        self._ring(held)
        self.published += len(held)
        self.from_memory += len(held)
        return len(held)

    async def _claim(self, conn: AsyncConnection, ids: list[int]) -> tuple[bool, int, int]:
        """(lock taken, rows up to the last held id the table holds, held rows deleted) in one statement."""
        params = {"ids": ids, "max": ids[-1], "upto": len(ids) + 1, "key": self._lock_key}
        if conn.dialect.name == "postgresql":
            row = (await conn.execute(_claim_pg(self._outbox), params)).one()
            return bool(row[0]), int(row[1]), int(row[2])
        t = self._outbox  # one writer at a time: no lock needed, two statements are fine
        seen = (await conn.execute(select(func.count()).select_from(t).where(t.c.id <= ids[-1]))).scalar_one()
        gone = (await conn.execute(delete(t).where(t.c.id.in_(ids)).returning(t.c.id))).all()
        return True, int(seen), len(gone)

    async def _table_round(self, last_held: int | None) -> int:
        """Read the oldest rows from the table, publish them in id order, delete them.

        PostgreSQL reads them through the primary key whatever its statistics say: a queue table's deleted rows
        stay in its heap until VACUUM, and a planner that last saw it nearly empty scanned the whole heap, in
        proportion to the history (a notification outbox after a 30,000-report replay: 7,750 pages, 80 ms a read).
        """
        t = self._outbox
        async with self._engine.begin() as conn:
            self.standby = not await try_lock(conn, self._lock_name)  # one relay per database at a time
            if self.standby:
                return 0
            if conn.dialect.name == "postgresql":
                await conn.execute(_NO_SEQSCAN)
            query = select(t.c.id, t.c.topic, t.c.key, t.c.payload, t.c.headers).order_by(t.c.id)
            rows = (await conn.execute(query.limit(self._batch))).all()
            # Held rows up to the last one read are in ``rows`` or were published already (they are committed).
            self._signal.forget_through(rows[-1].id if rows else (last_held or 0))
            self.look = self.behind = len(rows) >= self._batch  # a full batch: there may be more
            if not rows:
                return 0
            await self._publish(rows)
            await conn.execute(delete(t).where(t.c.id.in_([r.id for r in rows])))
        self._ring(rows)
        self.published += len(rows)
        return len(rows)

    def _ring(self, rows: Sequence[Any]) -> None:
        if self._doorbell is not None:
            self._doorbell.ring({row.topic for row in rows})

    async def _publish(self, rows: Sequence[Any]) -> None:
        """Send the rows in order without waiting for each acknowledgement, then wait for them all."""
        await send_rows(self._broker, rows)

    async def run(self) -> None:
        """Loop until stopped: drain, then wait for a commit signal or the idle poll."""
        backoff = 0.2
        while not self._stopping:
            try:
                n = await self.relay_once()
                backoff = 0.2
                if n == 0:  # standing by: the other relay may stop any moment, look again soon
                    woken = await self._signal.wait(self._standby_poll if self.standby else self._idle)
                    self.look = self.look or not woken  # an idle poll reads the table
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.look = True
                log.warning("outbox relay failed (%s); retrying in %.1fs", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def start(self) -> None:
        """Start the background loop."""
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        """Drain what is committed, then stop."""
        self._stopping = True
        self._signal.notify()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        with contextlib.suppress(Exception):
            await self.relay_once()
