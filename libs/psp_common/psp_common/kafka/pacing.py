"""Fetch pacing: short broker long-polls while records flow, long ones once a subscriber is idle."""

from __future__ import annotations

import logging
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher

from psp_common.settings import ServiceSettings

log = logging.getLogger("psp.kafka")

FETCH_WAIT_ATTR = "_fetch_max_wait_ms"  # aiokafka's private per-request broker wait, read for every FetchRequest


def fetch_wait_settable() -> bool:
    """Whether the installed aiokafka still keeps the broker wait where the pacer sets it.

    The consumer's fetcher (``AIOKafkaConsumer._fetcher``, a ``Fetcher``) reads ``_fetch_max_wait_ms`` for each
    request. Both names are private: an aiokafka release that renames either would silently turn pacing off
    (every fetch would keep the 20 ms wait: an idle stack back to fetching 50 times a second per subscriber).
    """
    consumer_sets_fetcher = "_fetcher" in AIOKafkaConsumer.start.__code__.co_names
    return consumer_sets_fetcher and FETCH_WAIT_ATTR in Fetcher.__init__.__code__.co_names


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
    """

    def __init__(self, active_ms: int, idle_ms: int, idle_after_ms: int) -> None:
        self.active_ms, self.idle_ms, self.idle_after_ms = active_ms, max(idle_ms, active_ms), idle_after_ms
        self._warned = False

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> FetchPacer:
        """The pacer ``settings`` configure."""
        return cls(
            settings.kafka_fetch_max_wait_ms, settings.kafka_idle_fetch_max_wait_ms, settings.kafka_idle_after_ms
        )

    async def next_records(self, consumer: Any, max_records: int) -> tuple[Any, ...]:
        """The next records (empty after ``idle_after_ms`` without any); paces the consumer's fetches."""
        batches = await consumer.getmany(timeout_ms=self.idle_after_ms, max_records=max_records)
        self.pace(consumer, self.active_ms if batches else self.idle_ms)
        return tuple(chain.from_iterable(batches.values()))

    def pace(self, consumer: Any, wait_ms: int) -> None:
        """Set the broker-side wait of the consumer's next fetches (aiokafka reads it per request)."""
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is not None and hasattr(fetcher, FETCH_WAIT_ATTR):
            setattr(fetcher, FETCH_WAIT_ATTR, wait_ms)
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
