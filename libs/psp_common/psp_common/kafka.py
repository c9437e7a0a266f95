"""Kafka conventions: broker factory, topics, dead letters and the at-least-once inbox consumer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Annotated, Any, TypeGuard, TypeVar

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from pydantic import BaseModel, TypeAdapter, ValidationError, WithJsonSchema
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from psp_common import topics
from psp_common.db import DuplicateEvent, UnitOfWork
from psp_common.events.envelope import Envelope
from psp_common.field_names import dotted
from psp_common.locks import lost_race
from psp_common.metrics import Metrics
from psp_common.settings import ServiceSettings

log = logging.getLogger("psp.kafka")

E = TypeVar("E", bound=Envelope)
M = TypeVar("M", bound=BaseModel)

TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
    KafkaError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is an outage or a lost race (retry until it passes) rather than a poison message."""
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or lost_race(exc)):
        return True
    return isinstance(exc, TRANSIENT)


def make_broker(settings: ServiceSettings, **kwargs: Any) -> KafkaBroker:
    """A FastStream Kafka broker with acks=all and idempotence as configured."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=f"psp-{settings.service_name}",
        log_level=logging.DEBUG,  # FastStream's two lines per message stay out of INFO logs
        enable_idempotence=settings.kafka_idempotence,
        acks="all",
        graceful_timeout=15.0,
        description=f"PSP Outreach {settings.service_name} service",
        **kwargs,
    )


async def ensure_topics(bootstrap: str, names: tuple[str, ...], partitions: int, replication: int) -> None:
    """Create missing topics (idempotent)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, partitions, replication) for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


def safe_reason(exc: BaseException) -> str:
    """A dead-letter reason that names fields and rules but never echoes input values."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_input=False, include_url=False)[:10]:
            loc = dotted(err) or "<root>"
            parts.append(f"{loc}: {err['msg']}")
        return "validation failed: " + "; ".join(parts)
    return f"handler failed: {type(exc).__name__}"


Quarantine = Callable[[bytes, dict[str, str]], Awaitable[str]]


class DeadLetters:
    """Publishes poison messages to the dead-letter topic with reason, source and attempt count."""

    def __init__(
        self,
        broker: KafkaBroker,
        service: str,
        topic: str = topics.DEAD_LETTER,
        quarantine: Quarantine | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._broker = broker
        self.metrics = metrics or Metrics(service)  # where consumers report batch sizes, latency and lag
        self._service = service
        self.topic = topic
        # Where raw input may hold patient data or narrative (the listener), the body stays in the
        # service's own database and the dead letter carries a stub that points at it.
        self.quarantine = quarantine

    async def send(
        self,
        body: bytes,
        *,
        source_topic: str,
        reason: str,
        attempts: int,
        key: bytes | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        """Publish ``body`` unchanged with the dead-letter headers."""
        headers = {
            "x-dlq-reason": reason[:1000],
            "x-dlq-source-topic": source_topic,
            "x-dlq-attempts": str(attempts),
            "x-dlq-service": self._service,
            "x-dlq-source-partition": "" if partition is None else str(partition),
            "x-dlq-source-offset": "" if offset is None else str(offset),
        }
        payload = body
        if self.quarantine is not None:
            quarantine_id = await self.quarantine(body, headers)
            headers["x-dlq-quarantine-id"] = quarantine_id
            payload = json.dumps(
                {
                    "quarantined": True,
                    "quarantine_id": quarantine_id,
                    "service": self._service,
                    "size": len(body),
                    "sha256": hashlib.sha256(body).hexdigest(),
                }
            ).encode()
        await self._broker.publish(payload, self.topic, key=key, headers=headers)
        self.metrics.dead_lettered(source_topic, reason)
        log.warning(
            "dead-lettered message from %s[%s]@%s after %d attempt(s): %s",
            source_topic,
            partition,
            offset,
            attempts,
            reason[:300],
        )


class RetryTracker:
    """Counts attempts per message position so a poison message is dead-lettered after N tries."""

    def __init__(self) -> None:
        self._attempts: dict[tuple[str, int, int], int] = {}

    def bump(self, pos: tuple[str, int, int]) -> int:
        """Count one more failed attempt and return the total."""
        self._attempts[pos] = self._attempts.get(pos, 0) + 1
        return self._attempts[pos]

    def clear(self, pos: tuple[str, int, int]) -> None:
        """Forget a position once it is done."""
        self._attempts.pop(pos, None)


async def deliver(
    msg: KafkaMessage,
    *,
    parse: Callable[[bytes], M],
    handle: Callable[[M], Awaitable[None]],
    dead_letters: DeadLetters,
    tracker: RetryTracker,
    settings: ServiceSettings,
) -> None:
    """Parse, handle and classify failures: poison -> dead letter and move on; outage -> raise to re-seek."""
    raw_message: Any = msg.raw_message
    raw = raw_message[0] if isinstance(raw_message, list | tuple) else raw_message
    model = _parse(raw, parse)
    if isinstance(model, Exception):
        await _dead_letter_unparsable(raw, model, dead_letters)
        return
    await _handle_parsed(raw, model, handle, dead_letters, tracker, settings)


async def deliver_batch(
    msg: KafkaMessage,
    *,
    parse: Callable[[bytes], M],
    handle_batch: Callable[[list[M]], Awaitable[None]],
    handle: Callable[[M], Awaitable[None]],
    dead_letters: DeadLetters,
    tracker: RetryTracker,
    settings: ServiceSettings,
) -> None:
    """A batch in one transaction; on a failure that is not an outage, fall back to one message at a time.

    Unparsable records are dead-lettered only once the rest of the batch is through: a raise re-seeks to the
    batch start and would otherwise dead-letter (and quarantine) the same record again on every retry.
    """
    raw_message: Any = msg.raw_message
    records = tuple(raw_message) if isinstance(raw_message, list | tuple) else (raw_message,)
    parsed: list[tuple[Any, M]] = []
    unparsable: list[tuple[Any, Exception]] = []
    for raw in records:
        model = _parse(raw, parse)
        if isinstance(model, Exception):
            unparsable.append((raw, model))
        else:
            parsed.append((raw, model))
    if parsed:
        await _handle_batch_or_each(records[0].topic, parsed, handle_batch, handle, dead_letters, tracker, settings)
    for raw, exc in unparsable:
        await _dead_letter_unparsable(raw, exc, dead_letters)


async def _handle_batch_or_each(
    topic: str,
    parsed: list[tuple[Any, M]],
    handle_batch: Callable[[list[M]], Awaitable[None]],
    handle: Callable[[M], Awaitable[None]],
    dead_letters: DeadLetters,
    tracker: RetryTracker,
    settings: ServiceSettings,
) -> None:
    try:
        await handle_batch([model for _, model in parsed])
        return
    except Exception as exc:
        if is_transient(exc):
            log.warning(
                "transient failure on a batch of %d from %s (%s); retrying", len(parsed), topic, type(exc).__name__
            )
            await _outage_pause(settings)
            raise
        log.warning("batch of %d from %s failed (%s); handling one at a time", len(parsed), topic, type(exc).__name__)
    for raw, model in parsed:  # raising here re-seeks to the batch start; the inbox skips what is done
        await _handle_parsed(raw, model, handle, dead_letters, tracker, settings)


async def _outage_pause(settings: ServiceSettings) -> None:
    """Back off before an outage makes the message be read again (NACK re-seeks)."""
    await asyncio.sleep(min(settings.retry_backoff_s * 8, 5.0))


def _parse(raw: Any, parse: Callable[[bytes], M]) -> M | Exception:
    """The parsed model, or the validation error that makes the record poison."""
    try:
        return parse(raw.value or b"")
    except (ValidationError, ValueError, UnicodeDecodeError) as exc:
        return exc


async def _dead_letter_unparsable(raw: Any, exc: Exception, dead_letters: DeadLetters) -> None:
    await dead_letters.send(
        raw.value or b"",
        source_topic=raw.topic,
        reason=safe_reason(exc),
        attempts=1,
        key=raw.key,
        partition=raw.partition,
        offset=raw.offset,
    )


async def _handle_parsed(
    raw: Any,
    model: M,
    handle: Callable[[M], Awaitable[None]],
    dead_letters: DeadLetters,
    tracker: RetryTracker,
    settings: ServiceSettings,
) -> None:
    pos = (raw.topic, raw.partition, raw.offset)
    try:
        await handle(model)
    except DuplicateEvent:
        log.info("duplicate event skipped on %s[%d]@%d", *pos)
    except Exception as exc:
        if is_transient(exc):
            log.warning("transient failure on %s[%d]@%d (%s); retrying", *pos, type(exc).__name__)
            await _outage_pause(settings)
            raise
        attempts = tracker.bump(pos)
        if attempts >= settings.max_attempts:
            tracker.clear(pos)
            await dead_letters.send(
                raw.value or b"",
                source_topic=pos[0],
                reason=safe_reason(exc),
                attempts=attempts,
                key=raw.key,
                partition=pos[1],
                offset=pos[2],
            )
            return
        log.warning("handler failed on %s[%d]@%d attempt %d: %s", *pos, attempts, type(exc).__name__)
        await asyncio.sleep(settings.retry_backoff_s * (2 ** (attempts - 1)))
        raise
    tracker.clear(pos)


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
    handler: Callable[[E, UnitOfWork], Awaitable[None]],
    uow_factory: Callable[[], UnitOfWork],
    settings: ServiceSettings,
    dead_letters: DeadLetters,
    description: str = "",
    relevant: Callable[[E], bool] | None = None,
    handler_many: Callable[[list[E], UnitOfWork], Awaitable[None]] | None = None,
    markers: tuple[bytes, ...] = (),
) -> Any:
    """Subscribe ``handler`` to ``topic``: inbox dedupe, one transaction, commit offset after the DB commit.

    ``relevant``: events it rejects change nothing here, so they are acknowledged without a transaction
    (no inbox row: there is nothing to do twice). A batch claims its event ids in one statement.
    ``markers``: every event ``relevant`` accepts holds one of these bytes (e.g. the JSON strings of the statuses
    it wants); a record holding none is acknowledged unparsed (not validated in full only to be rejected).
    ``handler_many``: the set-based form of ``handler`` for a consumed batch (the new, distinct events in the
    order received, in one unit of work: a constant number of statements per batch). Without it the batch's
    events go through ``handler`` one by one in that unit of work. A batch that fails other than by an outage
    falls back to ``handler`` one event at a time, so a poison event is dead-lettered alone.
    """
    tracker = RetryTracker()

    def parse(raw: bytes) -> E | Unread:
        return model.model_validate_json(raw) if not markers or any(m in raw for m in markers) else UNREAD

    def wanted(event: E | Unread) -> TypeGuard[E]:
        return not isinstance(event, Unread) and (relevant is None or relevant(event))

    async def handle(event: E | Unread) -> None:
        if not wanted(event):
            return
        async with uow_factory() as uow:
            await uow.claim(str(event.event_id), topic)
            await handler(event, uow)
            await uow.commit()

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
            if handler_many is not None:
                if new:
                    await handler_many(new, uow)
            else:
                for event in new:
                    await handler(event, uow)
            await uow.commit()

    return subscribe_raw(
        broker,
        topic=topic,
        group_id=group_id,
        parse=parse,
        handle=handle,
        handle_batch=handle_batch,
        dead_letters=dead_letters,
        settings=settings,
        tracker=tracker,
        description=description,
        schema=model,
    )


Schema = type[BaseModel] | dict[str, Any]


def documented(body_type: Any, schema: Schema | None) -> Any:
    """What FastStream hands the handler (its message, not validated), shown in AsyncAPI as ``schema`` (a model or a
    JSON Schema; without one, as ``body_type``).

    FastStream hands the handler its undecoded message (parsing stays ours, so a malformed message is
    dead-lettered with its reason instead of failing FastStream's own validation); only the document changes.
    """
    if schema is None:
        json_schema = TypeAdapter(body_type).json_schema()
    else:
        json_schema = schema if isinstance(schema, dict) else schema.model_json_schema()
    return Annotated[Any, WithJsonSchema(inlined(json_schema))]  # Any: the value is FastStream's message


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``#/$defs/...`` reference replaced by its definition (pydantic resolves a ``$ref``
    in a ``WithJsonSchema`` against its own definitions, which do not hold the model's)."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:
                raise ValueError(f"recursive schema {name} cannot be inlined")
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**resolve(defs[name], (*seen, name)), **resolve(rest, seen)}
        return {k: resolve(v, seen) for k, v in node.items() if k != "$defs"}

    out: dict[str, Any] = resolve(schema, ())
    return out


def subscribe_raw(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    parse: Callable[[bytes], M],
    handle: Callable[[M], Awaitable[None]],
    dead_letters: DeadLetters,
    settings: ServiceSettings,
    tracker: RetryTracker | None = None,
    handle_batch: Callable[[list[M]], Awaitable[None]] | None = None,
    description: str = "",
    schema: Schema | None = None,
) -> Any:
    """Subscribe with an explicit group and NACK_ON_ERROR: offsets are committed only after handling succeeded.

    With ``handle_batch`` and ``kafka_batch_max`` > 1, up to that many records are handled in one call (one
    database transaction) and their offsets committed together afterwards. ``schema``: what one record holds
    (the model ``parse`` reads), documented as the channel's payload in AsyncAPI.
    """
    tracker = tracker or RetryTracker()
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
        title=f"{group_id}:{topic}",
        description=description or None,
        decoder=_whole_message,
        **extra,
    )

    FetchPacer.from_settings(settings).install(sub, settings.kafka_batch_max if batched else None)
    if batched:
        assert handle_batch is not None

        async def consume_batch(msg: KafkaMessage) -> None:
            started = time.perf_counter()
            await deliver_batch(
                msg,
                parse=parse,
                handle_batch=handle_batch,
                handle=handle,
                dead_letters=dead_letters,
                tracker=tracker,
                settings=settings,
            )
            observe(metrics, msg, group_id, time.perf_counter() - started)

        consume_batch.__annotations__["msg"] = documented(Any, schema)
        return sub(consume_batch)

    async def consume(msg: KafkaMessage) -> None:
        started = time.perf_counter()
        await deliver(msg, parse=parse, handle=handle, dead_letters=dead_letters, tracker=tracker, settings=settings)
        observe(metrics, msg, group_id, time.perf_counter() - started)

    consume.__annotations__["msg"] = documented(bytes, schema)
    return sub(consume)


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

    @staticmethod
    def pace(consumer: Any, wait_ms: int) -> None:
        """Set the broker-side wait of the consumer's next fetches (aiokafka reads it per request)."""
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is not None and hasattr(fetcher, "_fetch_max_wait_ms"):
            fetcher._fetch_max_wait_ms = wait_ms

    def install(self, sub: Any, max_records: int | None) -> None:
        """Replace the subscriber's record wait (``max_records`` None: FastStream's one-record subscriber)."""

        async def get_batch(consumer: Any) -> tuple[Any, ...]:
            return await self.next_records(consumer, max_records or 1)

        async def get_one(consumer: Any) -> Any:
            records = await self.next_records(consumer, 1)
            return records[0] if records else None

        sub.get_msg = get_one if max_records is None else get_batch


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


def document_publisher(broker: KafkaBroker, topic: str, model: type[BaseModel], description: str) -> Any:
    """Declare a topic this service publishes (via its outbox) so AsyncAPI documents its payload."""
    return broker.publisher(topic, schema=model, title=f"{topic}:{model.__name__}", description=description)
