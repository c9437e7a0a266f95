"""Outbox relay: publishes committed outbox rows in order, then deletes them (at least once).

Several instances of a service share its database, each with a relay. Only one relay at a time reads and
publishes (a PostgreSQL advisory lock held for the round's transaction); the others stand by and poll. Two
relays publishing neighbouring rows at once would let a later event of a case overtake an earlier one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from faststream.kafka import KafkaBroker
from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psp_common.db import OutboxSignal
from psp_common.locks import try_lock

log = logging.getLogger("psp.outbox")


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
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._broker = broker
        self._signal = signal
        self._batch = batch
        self._idle = idle_poll_s
        self._standby_poll = standby_poll_s
        self._lock_name = f"psp.outbox:{outbox.name}"
        self.standby = False  # the last round found another relay publishing
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.published = 0

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; return how many were published."""
        t = self._outbox
        async with self._engine.begin() as conn:
            self.standby = not await try_lock(conn, self._lock_name)  # one relay per database at a time
            if self.standby:
                return 0
            query = select(t.c.id, t.c.topic, t.c.key, t.c.payload, t.c.headers).order_by(t.c.id)
            query = query.limit(self._batch)
            rows = (await conn.execute(query)).all()
            if not rows:
                return 0
            futures = []
            for row in rows:
                fut = await self._broker.publish(
                    row.payload,
                    row.topic,
                    key=row.key.encode(),
                    headers=dict(row.headers or {}),
                    no_confirm=True,
                )
                futures.append(fut)
            await asyncio.gather(*futures)
            await conn.execute(delete(t).where(t.c.id.in_([r.id for r in rows])))
        self.published += len(rows)
        return len(rows)

    async def run(self) -> None:
        """Loop until stopped: drain, then wait for a commit signal or the idle poll."""
        backoff = 0.2
        while not self._stopping:
            try:
                n = await self.relay_once()
                backoff = 0.2
                if n == 0:  # standing by: the other relay may stop any moment, look again soon
                    await self._signal.wait(self._standby_poll if self.standby else self._idle)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
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
