"""The outbox relay publishes what this process's commits wrote without reading it back, and still reads the
table for rows it was not handed (another instance, a crash, more than the signal keeps), in order per key,
publishing nothing twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from psp_common.db import OutboxSignal, UnitOfWork, make_engine, messaging_tables, new_metadata
from psp_common.outbox import OutboxRelay, _claim_pg
from tests.statements import counting
from tests.support import write_scans

BACKLOG = 5000
CREATED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class FakeBroker:
    """Records publishes in order; ``fail`` makes the next publishes raise (a broker outage)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail = 0

    async def publish(self, payload: bytes, topic: str, **_kw: Any) -> asyncio.Future[None]:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("broker down")
        self.sent.append((topic, json.loads(payload)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class Instance:
    """One service instance: its pool, signal and relay on the shared database."""

    def __init__(self, url: str, env: Env) -> None:
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.signal = OutboxSignal(capacity=env.capacity)
        self.broker = FakeBroker()
        self.env = env
        self.relay = OutboxRelay(self.engine, env.outbox, cast(KafkaBroker, self.broker), self.signal, batch=50)

    async def commit(self, *events: tuple[str, int]) -> None:
        """Commit one event per (case, seq) in one unit of work."""
        async with UnitOfWork(self.sessions, self.env.inbox, self.env.outbox, self.signal) as uow:
            for case, seq in events:
                body = json.dumps({"case": case, "seq": seq}).encode()
                uow.publish_raw("t.out", case, body, str(uuid.uuid4()), {"content-type": "application/json"})
            await uow.commit()

    async def drain(self) -> None:
        while await self.relay.relay_once():
            pass


class Env:
    def __init__(self, url: str, capacity: int = 20_000) -> None:
        metadata = new_metadata()
        self.metadata = metadata
        self.inbox, self.outbox = messaging_tables(metadata)
        self.url, self.capacity = url, capacity
        self.instances: list[Instance] = []

    def instance(self) -> Instance:
        self.instances.append(Instance(self.url, self))
        return self.instances[-1]

    async def pending(self) -> int:
        async with self.instances[0].engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(self.outbox))).scalar_one())


@pytest.fixture(params=["postgres", "sqlite"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


@pytest.fixture
async def env(url: str) -> AsyncIterator[Env]:
    e = Env(url)
    first = e.instance()
    async with first.engine.begin() as conn:
        await conn.run_sync(e.metadata.create_all)
    yield e
    for inst in e.instances:
        await inst.engine.dispose()


def seqs(broker: FakeBroker, case: str) -> list[int]:
    return [body["seq"] for _, body in broker.sent if body["case"] == case]


@pytest.mark.postgres
async def test_committed_rows_are_published_from_memory_in_one_statement_per_round(pg_url: str) -> None:
    e = Env(pg_url)
    a = e.instance()
    try:
        async with a.engine.begin() as conn:
            await conn.run_sync(e.metadata.create_all)
        await a.commit(("c1", 0), ("c2", 0), ("c1", 1))
        await a.commit(("c1", 2))
        with counting(a.engine) as seen:
            assert await a.relay.relay_once() == 4
        assert len(seen) == 1, seen.seen  # lock, check and delete together; no SELECT of the outbox rows
        assert seen.seen[0].startswith("WITH gone AS (DELETE FROM outbox")
        assert a.relay.from_memory == 4
        assert seqs(a.broker, "c1") == [0, 1, 2] and seqs(a.broker, "c2") == [0]
        assert await e.pending() == 0
        with counting(a.engine) as seen:
            await a.commit(*((f"c{i}", 3) for i in range(30)))
        assert [s.split()[0] for s in seen.seen] == ["INSERT"]  # one insert for the whole commit
    finally:
        await a.engine.dispose()


async def test_rows_another_instance_committed_are_read_from_the_table_in_order(env: Env) -> None:
    a = env.instances[0]
    b = env.instance()  # another instance (or this one before a restart): its relay never runs
    await b.commit(("c1", 0), ("c2", 0))
    await a.commit(("c1", 1))  # handed to a's relay, but an older row of c1 is in the table
    await b.commit(("c2", 1))
    await a.commit(("c2", 2))
    await a.drain()
    assert seqs(a.broker, "c1") == [0, 1]
    assert seqs(a.broker, "c2") == [0, 1, 2]
    assert await env.pending() == 0
    assert a.relay.published == 5 and a.signal.held() == 0


async def test_rows_another_relay_published_are_not_published_again_from_memory(env: Env) -> None:
    a = env.instances[0]
    b = env.instance()
    await a.commit(("c1", 0), ("c1", 1))  # handed to a's relay in memory ...
    await b.drain()  # ... but b's relay read them from the table and published them first
    await a.commit(("c1", 2))
    await a.drain()
    assert seqs(b.broker, "c1") == [0, 1]
    assert seqs(a.broker, "c1") == [2]  # nothing twice
    assert await env.pending() == 0 and a.signal.held() == 0


async def test_a_failed_publish_loses_nothing_and_a_dropped_hand_over_is_read_from_the_table(env: Env) -> None:
    a = env.instances[0]
    await a.commit(("c1", 0), ("c1", 1))
    a.broker.fail = 1
    with pytest.raises(ConnectionError):
        await a.relay.relay_once()
    assert await env.pending() == 2  # nothing deleted
    await a.drain()
    assert seqs(a.broker, "c1") == [0, 1]
    small = Env(env.url, capacity=3)
    small.metadata, small.inbox, small.outbox = env.metadata, env.inbox, env.outbox
    c = small.instance()  # holds at most 3 rows: the 4th commit makes it drop what it holds
    await c.commit(("c2", 0), ("c2", 1))
    await c.commit(("c2", 2), ("c2", 3))
    await c.commit(("c2", 4))
    assert c.signal.held() == 1
    await c.drain()
    await c.engine.dispose()
    assert seqs(c.broker, "c2") == [0, 1, 2, 3, 4]
    assert await env.pending() == 0


@pytest.mark.postgres
async def test_the_table_is_read_when_it_may_hold_rows_not_handed_over_not_after_every_round(pg_url: str) -> None:
    """Once a relay has read the table empty, rounds that publish what they hold leave it alone (each read walked
    every deleted row VACUUM had not yet removed); a dropped hand-over, a failure or an idle poll make it look."""
    e = Env(pg_url, capacity=3)
    a = e.instance()
    try:
        async with a.engine.begin() as conn:
            await conn.run_sync(e.metadata.create_all)
        with counting(a.engine) as seen:
            assert await a.relay.relay_once() == 0  # a fresh relay reads the table (a crashed process's rows)
        assert seen.kinds()["SELECT outbox"] == 1
        assert seen.seen[1] == "SET LOCAL enable_seqscan = off"  # through the primary key, whatever the statistics
        await a.commit(("c1", 0), ("c1", 1))
        with counting(a.engine) as seen:
            await a.drain()
        assert len(seen) == 1 and seen.seen[0].startswith("WITH gone AS")  # published from memory; no table read
        await a.commit(("c1", 2), ("c1", 3))
        await a.commit(("c1", 4), ("c1", 5))  # past capacity: what it held is dropped, the table has it
        await a.commit(("c1", 6))  # held, but older rows are only in the table: no doomed try from memory first
        with counting(a.engine) as seen:
            await a.drain()
        assert seen.kinds()["SELECT outbox"] == 1 and not [s for s in seen.seen if s.startswith("WITH gone")]
        assert seqs(a.broker, "c1") == [0, 1, 2, 3, 4, 5, 6]
        assert not a.relay.look and not a.relay.behind and await a.relay.relay_once() == 0
    finally:
        await a.engine.dispose()


async def test_the_signal_says_whether_work_woke_it() -> None:
    signal = OutboxSignal()
    assert await signal.wait(0) is False  # an idle poll: the relay then reads the table
    signal.notify()
    assert await signal.wait(60) is True  # set already: returns at once


@pytest.mark.postgres
async def test_a_memory_round_behind_a_backlog_does_not_count_the_backlog(pg_url: str) -> None:
    """Thousands of rows the relay was not handed sit below the ones it holds: the round's one statement must find
    out (a mismatch) by reading about as many rows as it holds, not by counting the backlog every round."""
    e = Env(pg_url)
    a = e.instance()
    try:
        async with a.engine.begin() as conn:
            await conn.run_sync(e.metadata.create_all)
            row = {"topic": "t.out", "key": "k", "payload": b"{}", "headers": {}, "created_at": CREATED, "attempts": 0}
            await conn.execute(insert(e.outbox), [{**row, "event_id": f"e-{i}"} for i in range(BACKLOG)])
    finally:
        await a.engine.dispose()
    ids = [BACKLOG - 2, BACKLOG - 1, BACKLOG]  # the newest three: held
    params = {"ids": ids, "max": ids[-1], "upto": len(ids) + 1, "key": 1}
    scans = await write_scans(pg_url, _claim_pg(e.outbox), params)
    assert scans and sum(read for _, _, read in scans) < 50, scans
