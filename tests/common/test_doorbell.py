"""The first report after quiet is not held at an idle hop: a relay rings the topics it published to and an idle
subscriber, which keeps no fetch waiting at the broker (Tansu would answer it only at fixed points of its wait),
wakes on the ring and fetches at once."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from pathlib import Path
from typing import Any, cast

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import async_sessionmaker

from psp_common.db import OutboxSignal, UnitOfWork, make_engine, messaging_tables, new_metadata
from psp_common.kafka import Doorbell, FetchPacer
from psp_common.outbox import OutboxRelay
from psp_common.settings import ServiceSettings
from psp_common.stack import ServiceProcess, Stack


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def rung(event: asyncio.Event) -> bool:
    await asyncio.wait_for(event.wait(), 30)  # a bound for a broken test, not a measurement
    return event.is_set()


async def test_a_ring_wakes_the_subscribers_of_its_topics_in_another_process(tmp_path: Path) -> None:
    listening, ringing = Doorbell(tmp_path), Doorbell(tmp_path)
    mine, other = listening.event(["t.one"]), listening.event(["t.two"])
    try:
        assert ringing.ring(["t.one"]) == 1
        assert await rung(mine)
        assert not other.is_set()
    finally:
        listening.close()


async def test_a_topic_is_rung_once_per_quiet_period(tmp_path: Path) -> None:
    clock = Clock()
    listening, ringing = Doorbell(tmp_path), Doorbell(tmp_path, quiet_s=1.0, clock=clock)
    listening.event(["t"])
    try:
        assert ringing.ring(["t"]) == 1
        assert ringing.ring(["t"]) == 0  # the subscriber woke and stays awake while records flow
        clock.now += 1.0
        assert ringing.ring(["t", "t"]) == 1
    finally:
        listening.close()


def test_the_socket_of_a_stopped_process_is_removed(tmp_path: Path) -> None:
    gone = tmp_path / "1.0.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(gone))
    sock.close()
    assert Doorbell(tmp_path).ring(["t"]) == 0
    assert not gone.exists()


class Consumer:
    """aiokafka's consumer as the pacer uses it: getmany answers in order; pause and resume as aiokafka's."""

    def __init__(self, answers: list[dict[str, list[str]]]) -> None:
        self.answers = answers
        self.timeouts: list[int] = []
        self.parts = {"tp0", "tp1"}
        self.paused_parts: set[str] = set()
        self._fetcher = type("Fetcher", (), {"_fetch_max_wait_ms": 20, "_fetch_min_bytes": 1})()
        self.min_bytes: list[int] = []  # what each fetch asked the broker to wait for

    def assignment(self) -> set[str]:
        return set(self.parts)

    def paused(self) -> set[str]:
        return set(self.paused_parts)

    def pause(self, *parts: str) -> None:
        self.paused_parts |= set(parts)

    def resume(self, *parts: str) -> None:
        self.paused_parts -= set(parts)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        assert not self.paused_parts, "a fetch while paused"
        self.timeouts.append(timeout_ms)
        self.min_bytes.append(self._fetcher._fetch_min_bytes)
        return self.answers.pop(0)


async def test_an_idle_subscriber_keeps_no_fetch_waiting_and_a_ring_wakes_it(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path)
    pacer = FetchPacer(active_ms=20, idle_ms=60_000, idle_after_ms=2000, bell=bell, topics=("t",), min_bytes=4096)
    consumer = Consumer([{}, {"tp0": ["r"]}])
    try:
        assert await pacer.next_records(consumer, 10) == ()  # 2 s without records: idle
        assert consumer.paused() == consumer.assignment()  # no fetch goes to the broker
        woken = asyncio.create_task(pacer.next_records(consumer, 10))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not woken.done() and consumer.timeouts == [2000]  # dozing, not fetching
        Doorbell(tmp_path).ring(["t"])  # another process's relay published to t
        assert await asyncio.wait_for(woken, 30) == ("r",)
        assert pacer.rings_heard == 1
        assert consumer.timeouts == [2000, 2000]  # after a ring, waiting for records as while they flow
        assert consumer.paused() == set() and consumer._fetcher._fetch_max_wait_ms == 20
        # The fetch after the doze asked for one byte (a ring means records are there; a trickle is not held), and
        # with records flowing the next ones wait for min_bytes.
        assert consumer.min_bytes[-1] == 1 and consumer._fetcher._fetch_min_bytes == 4096
    finally:
        bell.close()


def test_a_dozing_subscriber_looks_without_a_ring_once_per_idle_after() -> None:
    assert FetchPacer(active_ms=20, idle_ms=500, idle_after_ms=2000).doze_ms == 2000


async def test_without_a_ring_an_idle_subscriber_still_looks(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path)
    pacer = FetchPacer(active_ms=1, idle_ms=1, idle_after_ms=1, bell=bell, topics=("t",))
    consumer = Consumer([{}, {}, {"tp1": ["late"]}])
    try:
        assert await pacer.next_records(consumer, 10) == ()
        assert await pacer.next_records(consumer, 10) == ()
        assert await pacer.next_records(consumer, 10) == ("late",)  # a publisher that does not ring
        assert pacer.rings_heard == 0 and consumer.timeouts == [1, 1, 1]
    finally:
        bell.close()


async def test_the_relay_rings_the_topics_it_published(sqlite_url: str, tmp_path: Path) -> None:
    metadata = new_metadata()
    inbox, outbox = messaging_tables(metadata)
    engine = make_engine(sqlite_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    signal = OutboxSignal()
    bell = Doorbell(tmp_path)
    heard = bell.event(["t.out"])

    class Broker:
        async def publish(self, *_a: Any, **_kw: Any) -> asyncio.Future[None]:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

    relay = OutboxRelay(engine, outbox, cast(KafkaBroker, Broker()), signal, doorbell=Doorbell(tmp_path))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with UnitOfWork(sessions, inbox, outbox, signal) as uow:
            uow.publish_raw("t.out", "k", json.dumps({}).encode(), str(uuid.uuid4()), {})
            await uow.commit()
        assert await relay.relay_once() == 1
        assert await rung(heard)
    finally:
        bell.close()
        await engine.dispose()


def test_the_stack_gives_its_services_a_doorbell_only_with_its_embedded_broker(tmp_path: Path) -> None:
    stack = Stack(workdir=tmp_path, database_urls={}, bootstrap="127.0.0.1:1")
    stack.services["rules"] = ServiceProcess("rules", 1, "", tmp_path / "rules.log")
    assert "PSP_KAFKA_DOORBELL_DIR" not in stack.env_for("rules")
    assert stack.doorbell_dir() is None
    stack.broker = cast(Any, object())
    assert stack.doorbell_dir() == tmp_path / "bell"
    assert stack.env_for("rules")["PSP_KAFKA_DOORBELL_DIR"] == str(tmp_path / "bell")
    stack.broker, stack.doorbell = None, True  # asked for (the fault rig, on a broker it was given)
    assert stack.env_for("rules")["PSP_KAFKA_DOORBELL_DIR"] == str(tmp_path / "bell")


def test_settings_name_the_doorbell_for_the_pacer(tmp_path: Path) -> None:
    s = ServiceSettings(kafka_doorbell_dir=str(tmp_path), kafka_idle_after_ms=2000)
    pacer = FetchPacer.from_settings(s, ("t",))
    assert pacer.bell is not None and pacer.bell.directory == tmp_path and pacer.bell.quiet_s == 1.0
    assert FetchPacer.from_settings(ServiceSettings(), ("t",)).bell is None
