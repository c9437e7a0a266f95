"""Deferred inserts: append-only rows queued in a unit of work and written in one insert per table.

Queued rows go in at commit (``UnitOfWork.commit`` flushes them), or earlier where a read in the same
transaction must see them; a rollback drops them with the session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

DEFERRED = "psp.deferred_inserts"


def defer_insert(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Queue an append-only row; queued rows go in one multi-row insert per table at flush or commit."""
    session.info.setdefault(DEFERRED, {}).setdefault(table, []).append(row)


async def flush_deferred(session: AsyncSession) -> None:
    """Insert the queued rows now (before reading the tables they belong to in the same transaction)."""
    queued: dict[Table, list[dict[str, Any]]] = session.info.pop(DEFERRED, {})
    for table, rows in queued.items():
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:  # one insert takes rows of one shape
            shapes.setdefault(tuple(row), []).append(row)
        for same in shapes.values():
            await session.execute(insert(table), same)


def deferred_rows(session: AsyncSession, table: Table) -> list[dict[str, Any]]:
    """Rows of ``table`` queued in this transaction and not inserted yet (for reads that must see them)."""
    queued: dict[Table, list[dict[str, Any]]] = session.info.get(DEFERRED, {})
    return queued.get(table, [])
