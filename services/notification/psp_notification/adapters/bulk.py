"""Many rows in one statement: the set-based writes of a consumed batch (a constant number of statements per batch).

PostgreSQL and SQLite get one ``INSERT ... ON CONFLICT`` executed with every row (statements built once per
table); other databases fall back to the one-row helpers of ``psp_common.db``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import dialect_of, insert_or_skip, upsert

BULK = ("postgresql", "sqlite")


def _insert(dialect: str, table: Table) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


@functools.cache
def _skip(dialect: str, table: Table) -> Any:
    return _insert(dialect, table).on_conflict_do_nothing()


@functools.cache
def _skip_returning(dialect: str, table: Table, key: str) -> Any:
    return _insert(dialect, table).on_conflict_do_nothing().returning(table.c[key])


@functools.cache
def _upsert(dialect: str, table: Table, key: str, columns: tuple[str, ...]) -> Any:
    stmt = _insert(dialect, table)
    return stmt.on_conflict_do_update(index_elements=[key], set_={c: stmt.excluded[c] for c in columns})


async def insert_skip_many(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all of one shape), skipping those that clash with a unique key (one statement)."""
    if not rows:
        return
    dialect = dialect_of(session)
    if dialect in BULK:
        await session.execute(_skip(dialect, table), list(rows))
        return
    for row in rows:
        await insert_or_skip(session, table, row)


async def insert_new_many(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], key: str) -> set[Any]:
    """Insert ``rows`` (one shape, distinct ``key`` values) unless they clash; the ``key`` of each row inserted."""
    if not rows:
        return set()
    dialect = dialect_of(session)
    if dialect in BULK:
        return set((await session.execute(_skip_returning(dialect, table, key), list(rows))).scalars())
    return {row[key] for row in rows if await insert_or_skip(session, table, row)}


async def upsert_many(
    session: AsyncSession, table: Table, key: str, rows: Sequence[dict[str, Any]], on_update: Sequence[str]
) -> None:
    """Insert ``rows`` (one shape, distinct keys), or set only ``on_update`` on stored ones - one statement."""
    if not rows:
        return
    dialect = dialect_of(session)
    if dialect in BULK:
        await session.execute(_upsert(dialect, table, key, tuple(on_update)), list(rows))
        return
    for row in rows:
        await upsert(session, table, key, row, list(on_update))
