"""Many rows in one statement: the set-based writes of a consumed batch (a constant number of statements per batch).

PostgreSQL: one ``INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT`` (one array per column, in the rows'
order), built once per table and set of columns: one bind of a few arrays instead of an executemany (a bind and
an execute per row, each row's parameters processed in Python). SQLite gets one ``INSERT ... ON CONFLICT``
executed with every row; other databases fall back to the one-row helpers of ``psp_common.db``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, Table, any_, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common import json_text
from psp_common.db import dialect_of, insert_or_skip, update_by, upsert

BULK = ("postgresql", "sqlite")


def one_of(session: AsyncSession, column: Column[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column`` is among ``values``, in one statement text whatever their number: ``= ANY(array)`` on PostgreSQL
    (an IN list is a new statement for each length, prepared again by the server); an IN list elsewhere."""
    if dialect_of(session) == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def _insert(dialect: str, table: Table) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _array_of(table: Table, name: str) -> str:
    """``CAST(:name AS type[])``; JSON columns travel as text (serialized here) and are cast back per row."""
    column = table.c[name]
    if isinstance(column.type, JSON):
        return f"CAST(:{name} AS text[])"
    return f"CAST(:{name} AS {column.type.compile(dialect=postgresql.dialect())}[])"


def _value_of(table: Table, name: str) -> str:
    return f"CAST(u.{name} AS json)" if isinstance(table.c[name].type, JSON) else f"u.{name}"


@functools.cache
def _unnest(table: Table, columns: tuple[str, ...], conflict: str) -> Any:
    """``INSERT INTO table (columns) SELECT ... FROM unnest(...) WITH ORDINALITY ORDER BY it`` + ``conflict``."""
    arrays = ", ".join(_array_of(table, c) for c in columns)
    values = ", ".join(_value_of(table, c) for c in columns)
    return text(
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {values} "  # noqa: S608
        f"FROM unnest({arrays}) WITH ORDINALITY AS u({', '.join(columns)}, n) ORDER BY u.n {conflict}"
    )


def _arrays(table: Table, columns: tuple[str, ...], rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """One list per column; JSON values serialized as the engine's JSON type does (a None as JSON null)."""
    out: dict[str, list[Any]] = {}
    for c in columns:
        values = [row[c] for row in rows]
        out[c] = [json_text.dumps(v) for v in values] if isinstance(table.c[c].type, JSON) else values
    return out


def _unnest_fits(table: Table, columns: tuple[str, ...]) -> bool:
    """Whether the raw statement writes what the table insert would: no Python-side default left out."""
    return all(c.default is None and c.onupdate is None for c in table.c if c.name not in columns)


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


async def insert_many(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all of one shape; a clash with a unique key raises) in one statement."""
    if not rows:
        return
    columns = tuple(rows[0])
    if dialect_of(session) == "postgresql" and _unnest_fits(table, columns):
        await session.execute(_unnest(table, columns, ""), _arrays(table, columns, rows))
        return
    await session.execute(table.insert(), list(rows))


async def insert_skip_many(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all of one shape), skipping those that clash with a unique key (one statement)."""
    if not rows:
        return
    dialect, columns = dialect_of(session), tuple(rows[0])
    if dialect == "postgresql" and _unnest_fits(table, columns):
        await session.execute(_unnest(table, columns, "ON CONFLICT DO NOTHING"), _arrays(table, columns, rows))
        return
    if dialect in BULK:
        await session.execute(_skip(dialect, table), list(rows))
        return
    for row in rows:
        await insert_or_skip(session, table, row)


async def insert_new_many(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], key: str) -> set[Any]:
    """Insert ``rows`` (one shape, distinct ``key`` values) unless they clash; the ``key`` of each row inserted."""
    if not rows:
        return set()
    dialect, columns = dialect_of(session), tuple(rows[0])
    if dialect == "postgresql" and _unnest_fits(table, columns):
        statement = _unnest(table, columns, f"ON CONFLICT DO NOTHING RETURNING {key}")
        return set((await session.execute(statement, _arrays(table, columns, rows))).scalars())
    if dialect in BULK:
        return set((await session.execute(_skip_returning(dialect, table, key), list(rows))).scalars())
    return {row[key] for row in rows if await insert_or_skip(session, table, row)}


async def upsert_many(
    session: AsyncSession, table: Table, key: str, rows: Sequence[dict[str, Any]], on_update: Sequence[str]
) -> None:
    """Insert ``rows`` (one shape, distinct keys), or set only ``on_update`` on stored ones - one statement."""
    if not rows:
        return
    dialect, columns = dialect_of(session), tuple(rows[0])
    if dialect == "postgresql" and _unnest_fits(table, columns):
        update = ", ".join(f"{c} = excluded.{c}" for c in on_update)
        statement = _unnest(table, columns, f"ON CONFLICT ({key}) DO UPDATE SET {update}")
        await session.execute(statement, _arrays(table, columns, rows))
        return
    if dialect in BULK:
        await session.execute(_upsert(dialect, table, key, tuple(on_update)), list(rows))
        return
    for row in rows:
        await upsert(session, table, key, row, list(on_update))


@functools.cache
def _update_unnest(table: Table, key: str, columns: tuple[str, ...]) -> Any:
    """``UPDATE table SET columns FROM unnest(key and column arrays) WHERE table.key = u.key``, built once."""
    arrays = ", ".join(_array_of(table, c) for c in (key, *columns))
    sets = ", ".join(f"{c} = {_value_of(table, c)}" for c in columns)
    return text(
        f"UPDATE {table.name} SET {sets} FROM unnest({arrays}) AS u({key}, {', '.join(columns)}) "  # noqa: S608
        f"WHERE {table.name}.{key} = u.{key}"
    )


async def update_many(session: AsyncSession, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Set each row's values on the stored row with its ``key`` (rows of one shape, distinct keys): one statement on
    PostgreSQL, one per row elsewhere."""
    if not rows:
        return
    columns = tuple(c for c in rows[0] if c != key)
    if dialect_of(session) == "postgresql":
        await session.execute(_update_unnest(table, key, columns), _arrays(table, (key, *columns), rows))
        return
    for row in rows:
        await update_by(session, table, key, row[key], {c: row[c] for c in columns})
