"""Outbox rows a unit of work commits, handed to the relay in memory so it need not read them back.

The commit writes its rows with one ``INSERT ... RETURNING id`` and, once committed, hands them (ids, topic, key,
payload, headers) to the ``OutboxSignal``. The relay publishes what it holds in id order and deletes it by id; the
table stays the truth: rows another instance wrote, rows of a process that died before publishing, and rows the
signal dropped when it held too many are read from the table (see psp_common.outbox).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common import json_text


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One committed outbox row, as the relay publishes it."""

    id: int
    topic: str
    key: str
    payload: bytes
    headers: dict[str, str]


class OutboxSignal:
    """Wakes the outbox relay when a unit of work commits, and holds the rows it committed (bounded)."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._event = asyncio.Event()
        self._rows: dict[int, OutboxRow] = {}
        self._capacity = capacity
        self.dropped = False  # rows were dropped at capacity: only the table has them (the relay clears this)

    def notify(self) -> None:
        """Tell the relay there is work."""
        self._event.set()

    def committed(self, rows: list[OutboxRow]) -> None:
        """Rows a transaction committed: keep them for the relay and wake it.

        Past ``capacity`` (the relay down or standing by for long) everything held is dropped: the rows are in
        the table, and the relay reads them from there once it sees rows it does not hold.
        """
        if len(self._rows) + len(rows) > self._capacity:
            self._rows.clear()
            self.dropped = True
        else:
            self._rows.update((r.id, r) for r in rows)
        self._event.set()

    def oldest(self, n: int) -> list[OutboxRow]:
        """Up to ``n`` held rows with the lowest ids, in id order (they stay held until ``forget``)."""
        return [self._rows[i] for i in sorted(self._rows)[:n]]

    def forget(self, ids: list[int]) -> None:
        """These rows are published (or known to be gone from the table)."""
        for i in ids:
            self._rows.pop(i, None)

    def forget_through(self, last_id: int) -> None:
        """Every held row with an id up to ``last_id`` is published or about to be by the table path."""
        for i in [i for i in self._rows if i <= last_id]:
            del self._rows[i]

    def held(self) -> int:
        """How many rows are held."""
        return len(self._rows)

    async def wait(self, timeout: float) -> bool:
        """Wait for work or ``timeout`` seconds, whichever comes first; whether work was signalled."""
        woken = True
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            woken = False
        self._event.clear()
        return woken


@functools.cache
def _insert_unnest(outbox: Table) -> Any:
    """PostgreSQL: a commit's outbox rows in one statement, built once whatever their number."""
    return text(
        f"INSERT INTO {outbox.name} (event_id, topic, key, payload, headers, created_at, attempts) "  # noqa: S608
        "SELECT e, t, k, p, CAST(h AS json), c, 0 FROM unnest("
        "CAST(:event_id AS varchar[]), CAST(:topic AS varchar[]), CAST(:key AS varchar[]), "
        "CAST(:payload AS bytea[]), CAST(:headers AS text[]), CAST(:created_at AS timestamptz[])"
        ") AS u(e, t, k, p, h, c) RETURNING id, event_id"
    )


async def write_outbox(session: AsyncSession, outbox: Table, queued: list[dict[str, Any]]) -> list[OutboxRow]:
    """Insert the queued rows (one statement) and return them with their ids, in the order queued."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        params = {
            "event_id": [q["event_id"] for q in queued],
            "topic": [q["topic"] for q in queued],
            "key": [q["key"] for q in queued],
            "payload": [q["payload"] for q in queued],
            "headers": [json_text.dumps(q["headers"]) for q in queued],
            "created_at": [q["created_at"] for q in queued],
        }
        result = await session.execute(_insert_unnest(outbox), params)
    else:
        stmt = insert(outbox).returning(outbox.c.id, outbox.c.event_id)
        result = await session.execute(stmt, queued)
    ids = {event_id: row_id for row_id, event_id in result.all()}
    return [OutboxRow(ids[q["event_id"]], q["topic"], q["key"], q["payload"], q["headers"]) for q in queued]
