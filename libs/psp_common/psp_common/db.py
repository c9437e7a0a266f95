"""Async SQLAlchemy engine, the inbox/outbox tables and the unit of work every handler runs in."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from psp_common import json_text
from psp_common.clock import utcnow
from psp_common.deferred import DEFERRED, flush_deferred
from psp_common.events.envelope import Envelope
from psp_common.outbox_rows import OutboxSignal as OutboxSignal  # re-exported: callers import it from here
from psp_common.outbox_rows import write_outbox

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")


def new_metadata() -> MetaData:
    """Metadata with the project's constraint naming convention."""
    return MetaData(naming_convention=NAMING)


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Add the inbox (dedupe on event_id) and outbox (transactional publish) tables to ``metadata``."""
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSON, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
    )
    Index("ix_outbox_created", outbox.c.created_at)
    return inbox, outbox


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL and a busy timeout so services and relays can share it.

    JSON columns are written by pydantic-core (``json_text.dumps``), not ``json.dumps``.
    """
    kwargs.setdefault("json_serializer", json_text.dumps)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # No pre-ping: it costs a round trip on every checkout. A connection that died in the pool fails on first
    # use with ``connection_invalidated``; the consumers treat that as an outage and retry the batch.
    kwargs.setdefault("pool_pre_ping", False)
    return create_async_engine(url, **kwargs)


# Hot statements are built once and executed with parameters: building a statement per call (operators,
# coercions, a fresh cache key) costs about as much Python time as executing it.
KEY = "_psp_key"


def dialect_of(session: AsyncSession) -> str:
    """Name of the database dialect the session is bound to ('' when unbound)."""
    return session.bind.dialect.name if session.bind is not None else ""


@functools.cache
def _insert_skip(dialect: str, table: Table) -> Any:
    mod = postgresql if dialect == "postgresql" else sqlite
    return mod.insert(table).on_conflict_do_nothing()


@functools.cache
def _claim_unnest(inbox: Table) -> Any:
    """PostgreSQL: claim an array of event ids; returns the ids that were not there yet."""
    rows = select(
        func.unnest(bindparam("ids", type_=postgresql.ARRAY(String))),
        bindparam("topic", type_=String),
        bindparam("now", type_=DateTime(timezone=True)),
    )
    return (
        postgresql.insert(inbox)
        .from_select(["event_id", "topic", "received_at"], rows)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(inbox.c.event_id)
    )


@functools.cache
def _select_by(table: Table, column: str, lock: bool) -> Any:
    query = select(table).where(table.c[column] == bindparam(KEY))
    return query.with_for_update() if lock else query


@functools.cache
def _update_by(table: Table, column: str) -> Any:
    return update(table).where(table.c[column] == bindparam(KEY))


async def get_by(session: AsyncSession, table: Table, column: str, value: Any, *, lock: bool = False) -> Any:
    """The row of ``table`` whose ``column`` equals ``value`` (locked for update if asked), or None."""
    return (await session.execute(_select_by(table, column, lock), {KEY: value})).first()


async def update_by(session: AsyncSession, table: Table, column: str, value: Any, values: dict[str, Any]) -> int:
    """Set ``values`` on the rows whose ``column`` equals ``value``; return how many rows changed."""
    result = await session.execute(_update_by(table, column), {KEY: value, **values})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def insert_or_skip(session: AsyncSession, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless it clashes with a unique key; whether it was inserted.

    PostgreSQL and SQLite: one ``INSERT ... ON CONFLICT DO NOTHING`` (no savepoint round trips); other
    databases: a savepoint around a plain insert.
    """
    dialect = dialect_of(session)
    if dialect in ("postgresql", "sqlite"):
        result = await session.execute(_insert_skip(dialect, table), values)
        return bool(result.rowcount)  # type: ignore[attr-defined]
    try:
        async with session.begin_nested():
            await session.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True


@functools.cache
def _upsert(dialect: str, table: Table, key: str, columns: tuple[str, ...]) -> Any:
    mod = postgresql if dialect == "postgresql" else sqlite
    stmt = mod.insert(table)
    return stmt.on_conflict_do_update(index_elements=[key], set_={c: stmt.excluded[c] for c in columns})


async def upsert(session: AsyncSession, table: Table, key: str, values: dict[str, Any], on_update: list[str]) -> None:
    """Insert ``values``, or where a row with the same ``key`` exists set only the ``on_update`` columns.

    PostgreSQL and SQLite: one ``INSERT ... ON CONFLICT DO UPDATE``; other databases: update, then insert.
    """
    dialect = dialect_of(session)
    if dialect in ("postgresql", "sqlite"):
        await session.execute(_upsert(dialect, table, key, tuple(on_update)), values)
        return
    if not await update_by(session, table, key, values[key], {c: values[c] for c in on_update}):
        await session.execute(insert(table), values)


class DuplicateEvent(Exception):
    """The event id is already in the inbox: the event was handled before."""


class UnitOfWork:
    """One database transaction: the handler's changes, the inbox mark and the outbox rows commit together."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        inbox: Table,
        outbox: Table,
        signal: OutboxSignal | None = None,
    ) -> None:
        self._factory = session_factory
        self._inbox = inbox
        self._outbox = outbox
        self._signal = signal
        self._queued: list[dict[str, Any]] = []
        self._after: list[Callable[[], None]] = []
        self.session: AsyncSession

    async def __aenter__(self) -> Self:
        self.session = self._factory()
        self._queued = []
        self._after = []
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.session.info.pop(DEFERRED, None)
        await self.session.rollback()
        await self.session.close()

    async def claim(self, event_id: str, topic: str) -> None:
        """Record ``event_id`` in the inbox; raise DuplicateEvent if it was already handled."""
        values = {"event_id": event_id, "topic": topic, "received_at": utcnow()}
        if not await insert_or_skip(self.session, self._inbox, values):
            raise DuplicateEvent(event_id)

    async def claim_many(self, event_ids: list[str], topic: str) -> set[str]:
        """Record a batch of event ids in the inbox in one statement; return the ids that were new."""
        unique = list(dict.fromkeys(event_ids))
        dialect = dialect_of(self.session)
        if dialect not in ("postgresql", "sqlite") or not unique:
            fresh: set[str] = set()
            for event_id in unique:
                try:
                    await self.claim(event_id, topic)
                except DuplicateEvent:
                    continue
                fresh.add(event_id)
            return fresh
        now = utcnow()
        if dialect == "postgresql":  # one statement built once, whatever the batch size
            params = {"ids": unique, "topic": topic, "now": now}
            return set((await self.session.execute(_claim_unnest(self._inbox), params)).scalars())
        stmt = (
            sqlite.insert(self._inbox)
            .values([{"event_id": e, "topic": topic, "received_at": now} for e in unique])
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(self._inbox.c.event_id)
        )
        return set((await self.session.execute(stmt)).scalars())

    def publish(self, topic: str, event: Envelope, headers: dict[str, str] | None = None) -> None:
        """Queue ``event`` for publication on ``topic`` once this unit of work commits."""
        self.publish_raw(
            topic,
            event.partition_key(),
            event.__pydantic_serializer__.to_json(event),  # model_dump_json's bytes, without str round trip
            str(event.event_id),
            {"content-type": "application/json", **(headers or {})},
        )

    def publish_raw(self, topic: str, key: str, payload: bytes, event_id: str, headers: dict[str, str]) -> None:
        """Queue raw bytes for publication (used for dead letters that follow a DB change)."""
        self._queued.append(
            {
                "event_id": event_id,
                "topic": topic,
                "key": key,
                "payload": payload,
                "headers": headers,
                "created_at": utcnow(),
                "attempts": 0,
            }
        )

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the next commit succeeded (e.g. wake a worker); dropped on rollback."""
        if callback not in self._after:
            self._after.append(callback)

    async def commit(self) -> None:
        """Write queued outbox rows (one statement), commit, hand them to the relay; run the after-commit callbacks."""
        await flush_deferred(self.session)
        queued, self._queued = self._queued, []
        rows = await write_outbox(self.session, self._outbox, queued) if queued else []
        await self.session.commit()
        if rows and self._signal is not None:  # the relay publishes these without reading them back
            self._signal.committed(rows)
        callbacks, self._after = self._after, []
        for callback in callbacks:
            callback()


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: treat them as UTC."""
    from datetime import UTC

    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


UowFactory = Callable[[], UnitOfWork]
