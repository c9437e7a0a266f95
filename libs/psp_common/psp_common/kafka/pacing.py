"""Fetch pacing: short broker long-polls while records flow, long ones once a subscriber is idle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher

from psp_common.kafka.doorbell import Doorbell, doorbell
from psp_common.settings import ServiceSettings

log = logging.getLogger("psp.kafka")

FETCH_WAIT_ATTR = "_fetch_max_wait_ms"  # aiokafka's private per-request broker wait, read for every FetchRequest
FETCH_MIN_BYTES_ATTR = "_fetch_min_bytes"  # and the bytes the broker waits for (up to that wait), read alongside


def fetch_wait_settable() -> bool:
    """Whether the installed aiokafka still keeps the broker wait where the pacer sets it.

    The consumer's fetcher (``AIOKafkaConsumer._fetcher``, a ``Fetcher``) reads ``_fetch_max_wait_ms`` for each
    request. Both names are private: an aiokafka release that renames either would silently turn pacing off
    (every fetch would keep the 20 ms wait: an idle stack back to fetching 50 times a second per subscriber).
    """
    consumer_sets_fetcher = "_fetcher" in AIOKafkaConsumer.start.__code__.co_names
    names = Fetcher.__init__.__code__.co_names
    return consumer_sets_fetcher and FETCH_WAIT_ATTR in names and FETCH_MIN_BYTES_ATTR in names


def warn_unless_fetch_wait_settable() -> bool:
    """Log a warning (once per call) when pacing cannot work with the installed aiokafka; return whether it can."""
    if fetch_wait_settable():
        return True
    log.warning(
        "aiokafka %s: the consumer's fetcher has no %s; idle subscribers will not slow their fetches",
        _aiokafka_version(),
        FETCH_WAIT_ATTR,
    )
    return False


def _aiokafka_version() -> str:
    import aiokafka

    return str(getattr(aiokafka, "__version__", "?"))


class FetchPacer:
    """How a subscriber waits for records: short broker long-polls while records flow, long ones once idle.

    FastStream's batch loop calls ``getmany(timeout_ms=batch_timeout_ms)`` and, when nothing came, sleeps another
    ``batch_timeout_ms``: a short timeout wakes every subscriber many times a second with nothing to do, a long
    one delays the first record after quiet by up to that sleep. Here ``getmany`` waits up to ``idle_after_ms``
    (the consumer's fetcher wakes it as soon as records arrive) and an empty answer is asked again at once.

    The broker-side wait (``fetch_max_wait_ms``) is what an idle consumer costs: one fetch per wait, in the
    service and in the broker. Some brokers (the embedded Tansu) do not answer a fetch as soon as data arrives,
    so a short wait is what keeps the pipeline fast. The pacer keeps ``active_ms`` while records flow and
    switches the consumer's fetcher to ``idle_ms`` after ``idle_after_ms`` without any.

    ``min_bytes``: what a fetch waits for (up to ``active_ms``) while records flow: under a trickle a fetch then
    brings several records (one transaction, one offset commit) instead of one, at most ``active_ms`` later. An
    idle subscriber's fetch asks for one byte, so the first record after quiet is answered at once.

    ``lazy_ms`` (a bookkeeping subscription): after a batch that did not fill ``max_records`` the subscriber rests
    that long from the batch's arrival, its partitions paused (no fetch at the broker), so the records that came
    meanwhile arrive as one batch. The outreach statuses are the busiest topic and three services each need a few
    of them: read every 50 ms they cost the embedded broker (Tansu lists a partition's stored batches for each fetch)
    most of its work at 200 reports/s, and each service a transaction-less call and an offset commit per fetch.
    """

    def __init__(
        self,
        active_ms: int,
        idle_ms: int,
        idle_after_ms: int,
        bell: Doorbell | None = None,
        topics: tuple[str, ...] = (),
        min_bytes: int = 1,
        lazy_ms: int = 0,
    ) -> None:
        self.active_ms, self.idle_ms, self.idle_after_ms = active_ms, max(idle_ms, active_ms), idle_after_ms
        self.min_bytes = min_bytes
        self.lazy_ms = lazy_ms
        self.rests = 0  # rests taken between batches (a lazy subscriber)
        self._rest_from: float | None = None  # when the batch that calls for a rest arrived (loop time)
        self.sleep = asyncio.sleep  # tests replace both
        self.now = time.monotonic
        self.bell, self.topics = bell, topics
        # Dozing on the doorbell, a subscriber looks without a ring once per idle_after (for publishers that do not
        # ring: an external producer, a dead letter); a look per idle_ms cost more than the long polls it replaces.
        self.doze_ms = max(self.idle_ms, idle_after_ms)
        self.idle = False
        self.rings_heard = 0  # dozes a ring ended (the rest ended on the doze_ms safety net)
        self._rung: asyncio.Event | None = None
        self._warned = False

    @classmethod
    def from_settings(cls, settings: ServiceSettings, topics: tuple[str, ...] = (), lazy: bool = False) -> FetchPacer:
        """The pacer ``settings`` configure (with the doorbell, when they name one, for ``topics``; ``lazy``: a
        bookkeeping subscription, see ``lazy_ms``)."""
        return cls(
            settings.kafka_fetch_max_wait_ms,
            settings.kafka_idle_fetch_max_wait_ms,
            settings.kafka_idle_after_ms,
            bell=doorbell_for(settings),
            topics=topics,
            min_bytes=settings.kafka_fetch_min_bytes,
            lazy_ms=settings.kafka_lazy_fetch_ms if lazy else 0,
        )

    async def next_records(self, consumer: Any, max_records: int) -> tuple[Any, ...]:
        """The next records (empty after ``idle_after_ms`` without any); paces the consumer's fetches.

        Idle with a doorbell, the consumer's partitions stay paused (no fetch waits at the broker) until a ring
        or ``doze_ms``. After a ring the subscriber waits for records as when they flow (a fetch answered late
        on a busy machine still counts); after ``doze_ms`` one fetch of ``active_ms`` looks for records.
        """
        if self._rest_from is not None:
            await self._rest(consumer)
        timeout = self.idle_after_ms
        if self.idle and self._listening() and not await self._doze(consumer):
            timeout = self.active_ms  # the safety net: one short look (a ring waits as records flowing would)
        batches = await consumer.getmany(timeout_ms=timeout, max_records=max_records)
        records = tuple(chain.from_iterable(batches.values()))
        self.idle = not batches
        if self.lazy_ms and 0 < len(records) < max_records:
            self._rest_from = self.now()
        if self.idle and self._listening():
            consumer.pause(*consumer.assignment())  # before the fetcher sends another fetch
            # The fetch after the doze asks for one byte: a ring means records are there, and the first after quiet
            # is not held for more (a trickle's every report is one: each hop would wait active_ms on Tansu).
            self.pace(consumer, self.active_ms, 1)
        elif self.idle:
            self.pace(consumer, self.idle_ms, 1)
        else:
            self.pace(consumer, self.active_ms, self.min_bytes)
        return records

    async def _rest(self, consumer: Any) -> None:
        """A lazy subscriber's rest: partitions paused until ``lazy_ms`` after the last batch arrived."""
        assert self._rest_from is not None
        left = self._rest_from + self.lazy_ms / 1000 - self.now()
        self._rest_from = None
        if left <= 0:
            return
        self.rests += 1
        with _paused(consumer):
            await self.sleep(left)

    def _listening(self) -> bool:
        """Whether this pacer dozes on the doorbell (it falls back to long polls when it cannot listen)."""
        if self.bell is None or not self.topics:
            return False
        if self._rung is None:
            try:
                self._rung = self.bell.event(self.topics)
            except OSError as exc:
                log.warning("Kafka doorbell unusable (%s); idle subscribers poll instead", type(exc).__name__)
                self.bell = None
                return False
        return True

    async def _doze(self, consumer: Any) -> bool:
        """Sleep with the partitions paused until a ring (True) or ``doze_ms`` (False), then resume them."""
        assert self._rung is not None
        with _paused(consumer):  # a rebalance may have brought partitions since the last pause
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._rung.wait(), self.doze_ms / 1000)
                    self.rings_heard += 1
                    return True
                return False
            finally:
                # Cleared before the fetch starts: a ring from now on is for records that fetch may not see.
                self._rung.clear()

    def pace(self, consumer: Any, wait_ms: int, min_bytes: int = 1) -> None:
        """Set the broker-side wait and minimum bytes of the consumer's next fetches (aiokafka reads them per
        request)."""
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is not None and hasattr(fetcher, FETCH_WAIT_ATTR):
            setattr(fetcher, FETCH_WAIT_ATTR, wait_ms)
            setattr(fetcher, FETCH_MIN_BYTES_ATTR, min_bytes)
        elif not self._warned:  # a started consumer without it: an aiokafka that moved the wait
            self._warned = True
            log.warning("the Kafka consumer has no %s to pace; its fetches keep their wait", FETCH_WAIT_ATTR)

    def install(self, sub: Any, max_records: int | None) -> None:
        """Replace the subscriber's record wait (``max_records`` None: FastStream's one-record subscriber)."""

        async def get_batch(consumer: Any) -> tuple[Any, ...]:
            return await self.next_records(consumer, max_records or 1)

        async def get_one(consumer: Any) -> Any:
            records = await self.next_records(consumer, 1)
            return records[0] if records else None

        sub.get_msg = get_one if max_records is None else get_batch
        sub.fetch_pacer = self  # reachable from its subscriber (tests, diagnostics)


@contextlib.contextmanager
def _paused(consumer: Any) -> Iterator[None]:
    """The consumer's assigned partitions paused for the block (no fetch goes to the broker), then resumed."""
    consumer.pause(*consumer.assignment())
    try:
        yield
    finally:
        consumer.resume(*(consumer.paused() & consumer.assignment()))


def doorbell_for(settings: ServiceSettings) -> Doorbell | None:
    """This process's doorbell when ``settings`` name its directory (``PSP_KAFKA_DOORBELL_DIR``), else None."""
    if not settings.kafka_doorbell_dir:
        return None
    return doorbell(settings.kafka_doorbell_dir, settings.kafka_idle_after_ms / 2000)
