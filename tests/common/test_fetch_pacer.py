"""An idle subscriber sleeps: it waits for records instead of polling, and its fetches slow down once idle."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from faststream.kafka import KafkaBroker

from psp_common.kafka import DeadLetters, FetchPacer, fetch_wait_settable, pacing, subscribe_raw
from psp_common.settings import ServiceSettings


class FakeFetcher:
    def __init__(self) -> None:
        self._fetch_max_wait_ms = 20
        self._fetch_min_bytes = 1


class FakeConsumer:
    """aiokafka's getmany: returns what is queued (an empty dict when the wait ran out)."""

    def __init__(self, answers: list[dict[str, list[str]]]) -> None:
        self.answers = answers
        self.timeouts: list[int] = []
        self._fetcher = FakeFetcher()

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        self.timeouts.append(timeout_ms)
        return self.answers.pop(0)


def settings(**kw: Any) -> ServiceSettings:
    return ServiceSettings(kafka_fetch_max_wait_ms=20, kafka_idle_fetch_max_wait_ms=500, kafka_idle_after_ms=2000, **kw)


def batch_subscriber(s: ServiceSettings) -> Any:
    broker = KafkaBroker("127.0.0.1:1")

    async def handle(_: bytes) -> None:
        return None

    async def handle_batch(_: list[bytes]) -> None:
        return None

    subscribe_raw(
        broker,
        topic="t",
        group_id="g",
        parse=lambda b: b,  # type: ignore[arg-type, return-value]
        handle=handle,
        handle_batch=handle_batch,
        dead_letters=DeadLetters(broker, "test"),
        settings=s,
    )
    (sub,) = broker.subscribers
    return sub


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep FastStream's loop would take (the idle wait must be getmany's own, not a sleep)."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(anyio, "sleep", sleep)
    return slept


async def test_an_empty_wait_asks_again_without_sleeping(no_sleep: list[float]) -> None:
    sub = batch_subscriber(settings())
    consumer = FakeConsumer([{}, {}, {"tp": ["r1", "r2"]}])
    got = [await sub.get_msg(consumer) for _ in range(3)]
    assert got == [(), (), ("r1", "r2")]
    assert no_sleep == []
    assert consumer.timeouts == [2000, 2000, 2000]  # one wake-up per idle_after_ms, whatever the fetch wait


async def test_an_idle_subscriber_wakes_once_per_idle_after_not_per_fetch(no_sleep: list[float]) -> None:
    """Over a simulated idle minute the subscriber's loop wakes 30 times (60 s / 2 s), not 3,000 (60 s / 20 ms)."""
    sub = batch_subscriber(settings())
    idle_minute_ms = 60_000
    consumer = FakeConsumer([{} for _ in range(100)])
    waited = 0
    wakeups = 0
    while waited < idle_minute_ms:
        await sub.get_msg(consumer)
        waited += consumer.timeouts[-1] + int(1000 * sum(no_sleep))
        no_sleep.clear()
        wakeups += 1
    assert wakeups == 30


async def test_fetches_slow_down_when_idle_and_speed_up_when_records_flow(no_sleep: list[float]) -> None:
    sub = batch_subscriber(settings())
    consumer = FakeConsumer([{}, {"tp": ["r"]}, {}])
    await sub.get_msg(consumer)
    assert consumer._fetcher._fetch_max_wait_ms == 500
    await sub.get_msg(consumer)
    assert consumer._fetcher._fetch_max_wait_ms == 20
    await sub.get_msg(consumer)
    assert consumer._fetcher._fetch_max_wait_ms == 500


async def test_one_record_subscriber_is_paced_too(no_sleep: list[float]) -> None:
    pacer = FetchPacer(active_ms=20, idle_ms=500, idle_after_ms=2000)

    class Sub:
        get_msg: Any = None

    sub = Sub()
    pacer.install(sub, None)
    consumer = FakeConsumer([{}, {"tp": ["only"]}])
    assert await sub.get_msg(consumer) is None
    assert consumer._fetcher._fetch_max_wait_ms == 500
    assert await sub.get_msg(consumer) == "only"
    assert consumer._fetcher._fetch_max_wait_ms == 20
    assert no_sleep == []


async def test_fetches_wait_for_min_bytes_while_records_flow_and_for_one_byte_when_idle(no_sleep: list[float]) -> None:
    """A trickle comes several records a fetch; the first record after quiet is not held for more."""
    sub = batch_subscriber(settings(kafka_fetch_min_bytes=4096))
    consumer = FakeConsumer([{"tp": ["r"]}, {}, {"tp": ["r2"]}])
    await sub.get_msg(consumer)
    assert (consumer._fetcher._fetch_max_wait_ms, consumer._fetcher._fetch_min_bytes) == (20, 4096)
    await sub.get_msg(consumer)
    assert (consumer._fetcher._fetch_max_wait_ms, consumer._fetcher._fetch_min_bytes) == (500, 1)
    await sub.get_msg(consumer)
    assert (consumer._fetcher._fetch_max_wait_ms, consumer._fetcher._fetch_min_bytes) == (20, 4096)


def test_the_subscriber_starts_with_the_configured_fetch_min_bytes() -> None:
    sub = batch_subscriber(settings(kafka_fetch_min_bytes=4096))
    assert sub._connection_args["fetch_min_bytes"] == 4096  # what FastStream hands AIOKafkaConsumer


def test_the_idle_wait_is_never_shorter_than_the_active_one() -> None:
    assert FetchPacer(active_ms=300, idle_ms=100, idle_after_ms=2000).idle_ms == 300


def test_the_installed_aiokafka_keeps_the_fetch_wait_where_the_pacer_sets_it() -> None:
    """Fails on an aiokafka upgrade that renames the consumer's ``_fetcher``, its ``_fetch_max_wait_ms`` or its
    ``_fetch_min_bytes``."""
    assert fetch_wait_settable()


async def test_a_started_consumer_has_the_fetch_wait_the_pacer_sets(kafka_bootstrap: str) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id="pacer-probe", enable_auto_commit=False, fetch_max_wait_ms=20
    )
    await consumer.start()
    try:
        FetchPacer(active_ms=20, idle_ms=500, idle_after_ms=2000).pace(consumer, 500, 4096)
        assert consumer._fetcher._fetch_max_wait_ms == 500
        assert consumer._fetcher._fetch_min_bytes == 4096
    finally:
        await consumer.stop()


def test_start_up_warns_when_aiokafka_moved_the_fetch_wait(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pacing, "fetch_wait_settable", lambda: False)
    with caplog.at_level(logging.WARNING, logger="psp.kafka"):
        assert not pacing.warn_unless_fetch_wait_settable()
    assert "idle subscribers will not slow their fetches" in caplog.text


def test_pacing_a_consumer_without_the_fetch_wait_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    class Moved:
        _fetcher = object()

    pacer = FetchPacer(active_ms=20, idle_ms=500, idle_after_ms=2000)
    with caplog.at_level(logging.WARNING, logger="psp.kafka"):
        pacer.pace(Moved(), 500)
        pacer.pace(Moved(), 20)
    assert caplog.text.count("to pace") == 1


class PausingConsumer(FakeConsumer):
    """With aiokafka's pause/resume of the assigned partitions, recording each call in order."""

    def __init__(self, answers: list[dict[str, list[str]]]) -> None:
        super().__init__(answers)
        self.calls: list[str] = []
        self._paused: set[str] = set()

    def assignment(self) -> set[str]:
        return {"tp"}

    def paused(self) -> set[str]:
        return set(self._paused)

    def pause(self, *tps: str) -> None:
        self.calls.append("pause")
        self._paused |= set(tps)

    def resume(self, *tps: str) -> None:
        self.calls.append("resume")
        self._paused -= set(tps)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        self.calls.append("fetch")
        return await super().getmany(timeout_ms=timeout_ms, max_records=max_records)


def lazy_pacer(lazy_ms: int, slept: list[float], clock: list[float] | None = None) -> FetchPacer:
    pacer = FetchPacer(20, 500, 2000, lazy_ms=lazy_ms)
    clock = clock if clock is not None else [100.0]

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer.sleep = sleep  # type: ignore[assignment]
    pacer.now = lambda: clock[0]
    return pacer


async def test_a_lazy_subscriber_rests_with_its_partitions_paused_after_a_batch_that_did_not_fill() -> None:
    slept: list[float] = []
    clock = [100.0]
    pacer = lazy_pacer(500, slept, clock)
    consumer = PausingConsumer([{"tp": ["s1", "s2"]}, {"tp": ["s3"]}, {"tp": ["s4"]}])
    assert await pacer.next_records(consumer, 100) == ("s1", "s2")
    clock[0] += 0.2  # the batch took 200 ms to handle
    assert await pacer.next_records(consumer, 100) == ("s3",)
    # Handled at once; then no fetch for the rest of the 500 ms (records that come meanwhile make the next batch).
    assert consumer.calls == ["fetch", "pause", "resume", "fetch"]
    assert slept == [pytest.approx(0.3)]
    clock[0] += 0.7  # a batch that took longer than the rest: no rest
    assert await pacer.next_records(consumer, 100) == ("s4",)
    assert len(slept) == 1 and pacer.rests == 1


async def test_a_lazy_subscriber_with_a_full_batch_or_none_fetches_again_at_once() -> None:
    slept: list[float] = []
    pacer = lazy_pacer(500, slept)
    consumer = PausingConsumer([{"tp": ["a", "b"]}, {}, {}])
    assert await pacer.next_records(consumer, 2) == ("a", "b")  # a full batch: more may be waiting
    assert await pacer.next_records(consumer, 2) == ()
    assert await pacer.next_records(consumer, 2) == ()  # none: the idle wait, not a rest
    assert slept == [] and "pause" not in consumer.calls[:3]


async def test_a_subscriber_that_is_not_lazy_never_rests() -> None:
    slept: list[float] = []
    pacer = lazy_pacer(0, slept)
    consumer = PausingConsumer([{"tp": ["a"]}, {"tp": ["b"]}])
    await pacer.next_records(consumer, 100)
    await pacer.next_records(consumer, 100)
    assert slept == [] and consumer.calls == ["fetch", "fetch"]


@pytest.mark.parametrize("service", ["listener", "rules", "matching", "notification"])
def test_only_the_status_bookkeeping_subscriptions_are_lazy(service: str) -> None:
    import importlib

    from psp_common import topics

    bootstrap = importlib.import_module(f"psp_{service}.bootstrap")
    settings_mod = importlib.import_module(f"psp_{service}.settings")
    settings_cls = next(
        getattr(settings_mod, n) for n in dir(settings_mod) if n.endswith("Settings") and n != "ServiceSettings"
    )
    s = settings_cls(database_url="sqlite+aiosqlite:///:memory:")
    runtime = bootstrap.build(s).state.runtime
    lazy = {sub.topics[0].name: sub.fetch_pacer.lazy_ms for sub in runtime.broker.subscribers}
    assert s.kafka_lazy_fetch_ms > 0
    for topic, lazy_ms in lazy.items():
        assert lazy_ms == (s.kafka_lazy_fetch_ms if topic == topics.OUTREACH_STATUS else 0), topic
    assert (topics.OUTREACH_STATUS in lazy) is (service != "notification")
