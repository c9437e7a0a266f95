"""Subscribing: the at-least-once inbox consumer (explicit group, offsets after the DB commit) and its metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard, TypeVar

from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from pydantic import BaseModel

from psp_common.db import UnitOfWork
from psp_common.events.envelope import Envelope
from psp_common.kafka.asyncapi import Schema, documented
from psp_common.kafka.dead_letters import DeadLetters, RetryTracker
from psp_common.kafka.deliver import deliver, deliver_batch
from psp_common.kafka.pacing import FetchPacer
from psp_common.metrics import Metrics
from psp_common.settings import ServiceSettings

log = logging.getLogger("psp.kafka")

E = TypeVar("E", bound=Envelope)
M = TypeVar("M", bound=BaseModel)

# aiokafka's fetcher routine wakes at least this often (``consumer_timeout_ms``, 200 ms by default): 5 times a
# second per subscriber at rest. Everything it waits for (fetch answers, records consumed, a resume, a seek, a
# rebalance, a metadata update) wakes it at once, so the timeout is only a safety net.
FETCHER_SAFETY_NET_MS = 5000


async def _whole_message(msg: Any) -> Any:
    """Hand the handler FastStream's message itself, undecoded: parsing is ours, so bad input cannot escape the DLQ.

    The handler takes it as its only argument. Asking for it with ``Context("message")`` instead makes
    fast_depends resolve that synchronous field in a worker thread on every call (a thread hop per record,
    or per batch).
    """
    return msg


class Unread(BaseModel):
    """A record ``subscribe_events`` acknowledged without parsing it (it lacks the subscription's marker)."""


UNREAD = Unread()


def subscribe_events(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    model: type[E],
    handler_many: Callable[[list[E], UnitOfWork], Awaitable[None]],
    uow_factory: Callable[[], UnitOfWork],
    settings: ServiceSettings,
    dead_letters: DeadLetters,
    description: str = "",
    relevant: Callable[[E], bool] | None = None,
    markers: tuple[bytes, ...] = (),
    lazy: bool = False,
) -> Any:
    """Subscribe ``handler_many`` to ``topic``: inbox dedupe, one transaction, commit offset after the DB commit.

    ``relevant``: events it rejects change nothing here, so they are acknowledged without a transaction
    (no inbox row: there is nothing to do twice). A batch claims its event ids in one statement.
    ``markers``: every event ``relevant`` accepts holds one of these bytes (e.g. the JSON strings of the statuses
    it wants); a record holding none is acknowledged unparsed (not validated in full only to be rejected).
    ``handler_many``: the set-based handler of a consumed batch (the new, distinct events in the order received,
    in one unit of work: a constant number of statements per batch). It is the one-event path too, a batch of
    one: with batching off (``kafka_batch_max`` 1), and when a batch that failed other than by an outage falls
    back to one event at a time, so a poison event is dead-lettered alone. So one implementation decides both.
    ``lazy``: a bookkeeping subscription, whose events may wait: it reads at most once per ``kafka_lazy_fetch_ms``
    while records flow (``FetchPacer``).
    """
    tracker = RetryTracker()

    def parse(raw: bytes) -> E | Unread:
        return model.model_validate_json(raw) if not markers or any(m in raw for m in markers) else UNREAD

    def wanted(event: E | Unread) -> TypeGuard[E]:
        return not isinstance(event, Unread) and (relevant is None or relevant(event))

    async def handle_batch(events: list[E | Unread]) -> None:
        todo = [e for e in events if wanted(e)]
        if not todo:
            return
        async with uow_factory() as uow:
            fresh = await uow.claim_many([str(e.event_id) for e in todo], topic)
            new: list[E] = []
            for event in todo:
                event_id = str(event.event_id)
                if event_id not in fresh:
                    log.info("duplicate event %s skipped on %s", event_id, topic)
                    continue
                fresh.discard(event_id)  # the same id twice in one batch is handled once
                new.append(event)
            if new:
                await handler_many(new, uow)
            await uow.commit()

    return subscribe_raw(
        broker,
        topic=topic,
        group_id=group_id,
        parse=parse,
        handle_batch=handle_batch,
        dead_letters=dead_letters,
        settings=settings,
        tracker=tracker,
        description=description,
        schema=model,
        lazy=lazy,
    )


def subscribe_raw(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    parse: Callable[[bytes], M],
    dead_letters: DeadLetters,
    settings: ServiceSettings,
    handle: Callable[[M], Awaitable[None]] | None = None,
    tracker: RetryTracker | None = None,
    handle_batch: Callable[[list[M]], Awaitable[None]] | None = None,
    description: str = "",
    schema: Schema | None = None,
    lazy: bool = False,
) -> Any:
    """Subscribe with an explicit group and NACK_ON_ERROR: offsets are committed only after handling succeeded.

    With ``handle_batch`` and ``kafka_batch_max`` > 1, up to that many records are handled in one call (one
    database transaction) and their offsets committed together afterwards. Without ``handle``, one record is
    handled by ``handle_batch`` as a list of one (batching off, and the fallback of a batch that failed other
    than by an outage, so a poison record is dead-lettered alone). ``schema``: what one record holds (the model
    ``parse`` reads), documented as the channel's payload in AsyncAPI. ``lazy``: see ``subscribe_events``.
    """
    tracker = tracker or RetryTracker()
    one = handle or _one_record(handle_batch)
    metrics: Metrics | None = getattr(dead_letters, "metrics", None)
    if metrics is not None:
        metrics.consumes(topic, group_id)
    batched = handle_batch is not None and settings.kafka_batch_max > 1
    extra: dict[str, Any] = {}
    if batched:
        extra = {"batch": True, "max_records": settings.kafka_batch_max}
    sub = broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        fetch_min_bytes=settings.kafka_fetch_min_bytes,
        consumer_timeout_ms=FETCHER_SAFETY_NET_MS,
        title=f"{group_id}:{topic}",
        description=description or None,
        decoder=_whole_message,
        **extra,
    )

    FetchPacer.from_settings(settings, (topic,), lazy).install(sub, settings.kafka_batch_max if batched else None)
    if batched:
        assert handle_batch is not None

        async def consume_batch(msg: KafkaMessage) -> None:
            started = time.perf_counter()
            await deliver_batch(
                msg,
                parse=parse,
                handle_batch=handle_batch,
                handle=one,
                dead_letters=dead_letters,
                tracker=tracker,
                settings=settings,
            )
            observe(metrics, msg, group_id, time.perf_counter() - started)

        consume_batch.__annotations__["msg"] = documented(Any, schema)
        return sub(consume_batch)

    async def consume(msg: KafkaMessage) -> None:
        started = time.perf_counter()
        await deliver(msg, parse=parse, handle=one, dead_letters=dead_letters, tracker=tracker, settings=settings)
        observe(metrics, msg, group_id, time.perf_counter() - started)

    consume.__annotations__["msg"] = documented(bytes, schema)
    return sub(consume)


def _one_record(handle_batch: Callable[[list[M]], Awaitable[None]] | None) -> Callable[[M], Awaitable[None]]:
    """The one-record path of a batch handler: a list of one."""
    if handle_batch is None:
        raise TypeError("subscribe_raw needs handle_batch or handle")
    many = handle_batch

    async def one(record: M) -> None:
        await many([record])

    return one


def observe(metrics: Metrics | None, msg: KafkaMessage, group: str, seconds: float) -> None:
    """Record a handled call: batch size, latency and, per partition, lag (highwater minus next offset).

    aiokafka keeps each partition's high watermark from the last fetch, so ``highwater(tp)`` is a cheap
    synchronous read; the lag is measured when a batch is handled (an idle consumer keeps its last value).
    """
    raw_message: Any = msg.raw_message
    records = tuple(raw_message) if isinstance(raw_message, list | tuple) else (raw_message,)
    if metrics is None or not records:
        return
    topic = records[0].topic
    metrics.observe_batch(topic, group, len(records), seconds)
    highwater: Any = getattr(getattr(msg, "consumer", None), "highwater", None)  # absent on FastStream's test fake
    if not callable(highwater):
        return
    last: dict[int, int] = {}
    for rec in records:
        last[rec.partition] = max(last.get(rec.partition, -1), rec.offset)
    for partition, offset in last.items():
        mark = highwater(TopicPartition(topic, partition))
        if isinstance(mark, int):
            metrics.observe_lag(topic, group, partition, mark - offset - 1)
