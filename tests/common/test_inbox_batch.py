"""A consumed batch claims its event ids in one statement; events nobody here acts on take no transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import Field
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from psp_common.db import UnitOfWork, make_engine, messaging_tables, new_metadata
from psp_common.events.envelope import Envelope
from psp_common.kafka import subscribe_events
from psp_common.settings import ServiceSettings
from tests.clock import TEST_NOW
from tests.support import one_by_one


class Ping(Envelope):
    """A test event."""

    act: bool = Field(True, description="Whether the consumer acts on it.")


@dataclass
class Raw:
    value: bytes
    offset: int
    topic: str = "t"
    partition: int = 0
    key: bytes | None = b"k"


@dataclass
class Msg:
    raw_message: Any


class FakeBroker:
    """Captures the subscribed function instead of running a consumer."""

    def __init__(self) -> None:
        self.consume: Callable[..., Any] | None = None

    def subscriber(self, *_a: Any, **_kw: Any) -> Callable[[Callable[..., Any]], Any]:
        def register(fn: Callable[..., Any]) -> Any:
            self.consume = fn
            return fn

        return register


class Env:
    def __init__(self, engine: AsyncEngine) -> None:
        metadata = new_metadata()
        self.inbox, self.outbox = messaging_tables(metadata)
        self.metadata, self.engine = metadata, engine
        self.factory = async_sessionmaker(engine, expire_on_commit=False)
        self.inserts = 0

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def count(_conn: Any, _cur: Any, statement: str, *_a: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO INBOX"):
                self.inserts += 1

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.factory, self.inbox, self.outbox)

    async def inbox_ids(self) -> set[str]:
        async with self.factory() as s:
            return set((await s.execute(select(self.inbox.c.event_id))).scalars())


@pytest.fixture(params=["postgres", "sqlite"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


@pytest.fixture
async def env(url: str) -> AsyncIterator[Env]:
    engine = make_engine(url)
    e = Env(engine)
    async with engine.begin() as conn:
        await conn.run_sync(e.metadata.create_all)
    try:
        yield e
    finally:
        await engine.dispose()


async def test_claim_many_returns_only_new_ids_in_one_statement(env: Env) -> None:
    async with env.uow() as uow:
        await uow.claim("a", "t")
        await uow.commit()
    env.inserts = 0
    async with env.uow() as uow:
        assert await uow.claim_many(["a", "b", "b", "c"], "t") == {"b", "c"}
        await uow.commit()
    assert env.inserts == 1
    assert await env.inbox_ids() == {"a", "b", "c"}


async def test_batch_skips_duplicates_and_irrelevant_events_without_inbox_rows(env: Env) -> None:
    broker, handled = FakeBroker(), []

    async def handler(e: Ping, uow: UnitOfWork) -> None:
        handled.append(str(e.event_id))

    subscribe_events(
        broker,  # type: ignore[arg-type]
        topic="t",
        group_id="g",
        model=Ping,
        handler_many=one_by_one(handler),
        uow_factory=env.uow,
        settings=ServiceSettings(kafka_batch_max=50),
        dead_letters=None,  # type: ignore[arg-type]
        relevant=lambda e: e.act,
    )
    done, fresh, ignored = uuid4(), uuid4(), uuid4()
    async with env.uow() as uow:
        await uow.claim(str(done), "t")
        await uow.commit()

    def ping(event_id: UUID, act: bool = True) -> bytes:
        return Ping(event_id=event_id, occurred_at=TEST_NOW, correlation_id=uuid4(), act=act).model_dump_json().encode()

    batch = [Raw(ping(fresh), 1), Raw(ping(ignored, act=False), 2), Raw(ping(fresh), 3), Raw(ping(done), 4)]
    env.inserts = 0
    assert broker.consume is not None
    await broker.consume(Msg(batch))
    assert handled == [str(fresh)]  # the redelivered copy and the event handled before are skipped
    assert env.inserts == 1
    assert await env.inbox_ids() == {str(done), str(fresh)}  # nothing recorded for the ignored event

    handled.clear()
    env.inserts = 0
    await broker.consume(Msg([Raw(ping(uuid4(), act=False), 5)]))
    assert handled == [] and env.inserts == 0  # a batch of only ignored events opens no transaction


async def test_deferred_rows_go_in_one_insert_at_commit_and_vanish_on_rollback(env: Env) -> None:
    from sqlalchemy import Column, Integer, String, Table, func

    from psp_common.deferred import defer_insert, flush_deferred

    log = Table("log", env.metadata, Column("id", Integer, primary_key=True), Column("what", String(20)))
    async with env.engine.begin() as conn:
        await conn.run_sync(env.metadata.create_all)
    inserts: list[str] = []

    @event.listens_for(env.engine.sync_engine, "before_cursor_execute")
    def count(_conn: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO LOG"):
            inserts.append(statement)

    async def rows() -> list[str]:
        async with env.factory() as s:
            return list((await s.execute(select(log.c.what).order_by(log.c.id))).scalars())

    async with env.uow() as uow:
        for what in ("a", "b", "c"):
            defer_insert(uow.session, log, {"what": what})
        assert inserts == []
        await uow.commit()
    assert await rows() == ["a", "b", "c"] and len(inserts) == 1
    async with env.uow() as uow:
        defer_insert(uow.session, log, {"what": "lost"})  # never committed
    async with env.uow() as uow:
        defer_insert(uow.session, log, {"what": "d"})
        await flush_deferred(uow.session)  # a read in the same transaction sees the row
        assert (await uow.session.execute(select(func.count()).select_from(log))).scalar_one() == 4
        await uow.commit()
    assert await rows() == ["a", "b", "c", "d"]


async def test_a_set_based_handler_gets_the_new_distinct_events_of_a_batch_at_once(env: Env) -> None:
    broker, calls = FakeBroker(), []

    async def handler_many(events: list[Ping], uow: UnitOfWork) -> None:
        calls.append([str(e.event_id) for e in events])

    subscribe_events(
        broker,  # type: ignore[arg-type]
        topic="t",
        group_id="g",
        model=Ping,
        handler_many=handler_many,
        uow_factory=env.uow,
        settings=ServiceSettings(kafka_batch_max=50),
        dead_letters=None,  # type: ignore[arg-type]
        relevant=lambda e: e.act,
    )
    done, a, b = uuid4(), uuid4(), uuid4()
    async with env.uow() as uow:
        await uow.claim(str(done), "t")
        await uow.commit()

    def ping(event_id: UUID, act: bool = True) -> bytes:
        return Ping(event_id=event_id, occurred_at=TEST_NOW, correlation_id=uuid4(), act=act).model_dump_json().encode()

    assert broker.consume is not None
    batch = [Raw(ping(a), 1), Raw(ping(done), 2), Raw(ping(b), 3), Raw(ping(a), 4), Raw(ping(uuid4(), False), 5)]
    await broker.consume(Msg(batch))
    assert calls == [[str(a), str(b)]]
    await broker.consume(Msg([Raw(ping(done), 6)]))
    assert calls == [[str(a), str(b)]]  # nothing new: the set-based handler is not called with an empty list
