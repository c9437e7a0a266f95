"""Quarantine: poison input that may hold patient data stays in the receiving service's database, for a while.

Rows are purged ``PSP_QUARANTINE_RETENTION_DAYS`` after they arrived (:func:`quarantine_purge`, run by
``psp_common.retention.Retention``): long enough to fix the sender and replay, not a second archive.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, String, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from psp_common.clock import utcnow
from psp_common.db import UnitOfWork, insert_or_skip
from psp_common.retention import Purge

# Namespace of quarantine ids derived from a record's position (topic, partition, offset).
QUARANTINE_NS = uuid.UUID("5b0e3f4c-2a7d-4c1e-9f0a-6d3b8e2a1c47")


def quarantine_table(metadata: MetaData) -> Table:
    """The quarantine table on a service's metadata."""
    return Table(
        "quarantine",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False, index=True),
        Column("source_topic", String(200), nullable=False),
        Column("source_partition", Integer, nullable=True),
        Column("source_offset", Integer, nullable=True),
        Column("reason", String(1000), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("body", LargeBinary, nullable=False),
    )


class DbQuarantine:
    """Stores a poison message's bytes and returns the id the dead letter points at."""

    def __init__(self, engine: AsyncEngine, table: Table, now: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.table = table
        self.now = now

    async def __call__(self, body: bytes, headers: dict[str, str]) -> str:
        """Insert the body with the dead-letter facts once per source record; return its id."""
        partition = headers.get("x-dlq-source-partition") or None
        offset = headers.get("x-dlq-source-offset") or None
        topic = headers.get("x-dlq-source-topic", "?")
        qid = quarantine_id(topic, partition, offset)
        row = {
            "id": qid,
            "received_at": self.now(),
            "source_topic": topic,
            "source_partition": int(partition) if partition else None,
            "source_offset": int(offset) if offset else None,
            "reason": headers.get("x-dlq-reason", "")[:1000],
            "attempts": int(headers.get("x-dlq-attempts", "1")),
            "body": body,
        }
        async with AsyncSession(self.engine) as session, session.begin():
            await insert_or_skip(session, self.table, row)
        return qid


def quarantine_id(topic: str, partition: str | None, offset: str | None) -> str:
    """Same record, same id (a redelivered record is held once); a body without a position gets a fresh id."""
    if partition is None or offset is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(QUARANTINE_NS, f"{topic}/{partition}/{offset}"))


def quarantine_purge(table: Table) -> Purge:
    """A retention purge deleting up to ``batch`` quarantined messages received at or before the cutoff."""

    async def purge(uow: UnitOfWork, now: datetime, cutoff: datetime, batch: int) -> list[str]:
        due = select(table.c.id).where(table.c.received_at <= cutoff).order_by(table.c.received_at).limit(batch)
        ids = list((await uow.session.execute(due)).scalars())
        if ids:
            await uow.session.execute(delete(table).where(table.c.id.in_(ids)))
            await uow.commit()
        return ids

    return purge
