"""Quarantine: poison input that may hold patient data stays in the receiving service's database."""

from __future__ import annotations

import uuid

from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from psp_common.events.envelope import utcnow


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

    def __init__(self, engine: AsyncEngine, table: Table) -> None:
        self.engine = engine
        self.table = table

    async def __call__(self, body: bytes, headers: dict[str, str]) -> str:
        """Insert the body with the dead-letter facts; return its id."""
        qid = str(uuid.uuid4())
        partition = headers.get("x-dlq-source-partition") or None
        offset = headers.get("x-dlq-source-offset") or None
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(self.table).values(
                    id=qid,
                    received_at=utcnow(),
                    source_topic=headers.get("x-dlq-source-topic", "?"),
                    source_partition=int(partition) if partition else None,
                    source_offset=int(offset) if offset else None,
                    reason=headers.get("x-dlq-reason", "")[:1000],
                    attempts=int(headers.get("x-dlq-attempts", "1")),
                    body=body,
                )
            )
        return qid
