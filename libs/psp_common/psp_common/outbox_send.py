"""How the outbox relay hands a round's rows to Kafka: straight to the broker's aiokafka producer, all sent, then
every acknowledgement awaited.

FastStream's ``publish`` costs a command object, the middleware chain, the codec and a header merge per message;
the relay's rows are bytes with their headers already decided, so none of it is needed. The records are the
ones ``publish`` wrote: the row's key (UTF-8) and value, the producer's partitioner (so a key keeps its
partition), and FastStream's headers: ``content-type`` first (``""`` unless the row sets it), a fresh
``correlation_id`` (FastStream's parser reads it into the consumed message), then the row's own headers.

Without a connected aiokafka producer (FastStream's ``TestKafkaBroker``, a test double) the rows go through the
broker's ``publish`` as before, so in-process tests still reach the subscribers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from psp_common.ids import uuid4_str


class Row(Protocol):
    """What the relay publishes of an outbox row (an ``OutboxRow`` or a row read from the table)."""

    @property
    def topic(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def payload(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str] | None: ...


def producer_of(broker: Any) -> AIOKafkaProducer | None:
    """The connected aiokafka producer behind a started FastStream ``KafkaBroker``, or None (not started, or
    FastStream's test producer, or no FastStream broker at all)."""
    fast = getattr(getattr(broker, "config", None), "producer", None)
    state = getattr(fast, "_producer", None)  # faststream.kafka's ProducerState: RealProducer once connected
    producer = getattr(state, "producer", None) if state else None
    return producer if isinstance(producer, AIOKafkaProducer) else None


def record_headers(row_headers: Mapping[str, str] | None) -> list[tuple[str, bytes]]:
    """The Kafka headers FastStream's ``publish`` of raw bytes with these headers writes, in the same order."""
    merged = {"content-type": "", "correlation_id": uuid4_str()}
    if row_headers:
        merged.update(row_headers)
    return [(name, (value or "").encode()) for name, value in merged.items()]


async def send_rows(broker: Any, rows: Sequence[Row]) -> None:
    """Send every row in order without waiting, then wait for every acknowledgement; raise if any failed.

    A failure leaves the round's rows in the outbox (the caller deletes them only after this returns); rows
    already acknowledged go out again next round and consumers' inbox drops the duplicates.
    """
    producer = producer_of(broker)
    if producer is None:
        await _through_faststream(broker, rows)
        return
    futures: list[asyncio.Future[Any]] = []
    try:
        for row in rows:
            futures.append(
                await producer.send(row.topic, row.payload, key=row.key.encode(), headers=record_headers(row.headers))
            )
        await asyncio.gather(*futures)
    except BaseException:
        for fut in futures:  # the round failed: the rest of its acknowledgements are not awaited
            fut.add_done_callback(_retrieve)
        raise


async def _through_faststream(broker: Any, rows: Sequence[Row]) -> None:
    futures = []
    for row in rows:
        fut = await broker.publish(
            row.payload, row.topic, key=row.key.encode(), headers=dict(row.headers or {}), no_confirm=True
        )
        futures.append(fut)
    await asyncio.gather(*futures)


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark a failed acknowledgement of an abandoned round as seen (no 'exception never retrieved' noise)."""
    if not fut.cancelled():
        fut.exception()
