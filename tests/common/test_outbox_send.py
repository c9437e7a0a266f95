"""The outbox relay sends a round straight through the broker's aiokafka producer: the records are the ones
FastStream's ``publish`` wrote (key, value, partition, headers, and what a FastStream consumer reads of them), and
a send whose acknowledgement fails deletes nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaTimeoutError
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaParser
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from psp_common.db import OutboxSignal, UnitOfWork, make_engine, messaging_tables, new_metadata
from psp_common.kafka import ensure_topics, make_broker
from psp_common.outbox import OutboxRelay
from psp_common.outbox_rows import OutboxRow
from psp_common.outbox_send import producer_of, send_rows
from psp_common.settings import ServiceSettings

pytestmark = [pytest.mark.kafka]

KEYS = ("incident-a", "incident-b", "case-7", "c", "a-much-longer-partition-key-0123456789")


async def _records(bootstrap: str, topic: str, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        for _ in range(120):
            if len(out) >= count:
                break
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


async def _seen(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    """What a FastStream subscriber sees of a record, the correlation id's value aside (FastStream makes a new one
    per publish), and where it landed."""
    msg = await AioKafkaParser(msg_class=KafkaMessage, regex=None).parse_message(record)
    uuid.UUID(msg.correlation_id)  # set, and FastStream's kind of id
    return {
        "partition": record.partition,
        "key": record.key,
        "value": record.value,
        "header_names": [name for name, _ in record.headers],
        "headers": {k: v for k, v in msg.headers.items() if k != "correlation_id"},
        "content_type": msg.content_type,
        "body": msg.body,
        "reply_to": msg.reply_to,
    }


def _rows(topic: str) -> list[OutboxRow]:
    headers = [{"content-type": "application/json"}, {"content-type": "application/json", "x-psp-test": "1"}, {}]
    return [
        OutboxRow(i, topic, key, f'{{"n": {i}}}'.encode(), headers[i % len(headers)]) for i, key in enumerate(KEYS * 2)
    ]


async def _started(bootstrap: str, idempotence: bool) -> KafkaBroker:
    broker = make_broker(ServiceSettings(kafka_bootstrap=bootstrap, kafka_idempotence=idempotence))
    await broker.start()
    return broker


async def test_relay_records_are_the_ones_faststream_publish_wrote(
    kafka_bootstrap: str, kafka_idempotence: bool
) -> None:
    suffix = uuid.uuid4().hex[:8]
    old, new = f"t.publish.{suffix}", f"t.relay.{suffix}"
    await ensure_topics(kafka_bootstrap, (old, new), 4, 1)
    broker = await _started(kafka_bootstrap, kafka_idempotence)
    rows = _rows(new)
    try:
        assert producer_of(broker) is not None  # the direct path, not FastStream's publish
        for row in rows:  # what the relay did before: FastStream's publish of each row
            await broker.publish(row.payload, old, key=row.key.encode(), headers=dict(row.headers))
        await send_rows(broker, rows)
    finally:
        await broker.stop()
    before = [await _seen(r) for r in await _records(kafka_bootstrap, old, len(rows))]
    after = [await _seen(r) for r in await _records(kafka_bootstrap, new, len(rows))]
    assert len(before) == len(rows) and len({s["partition"] for s in before}) > 1  # the keys spread

    def by_value(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(seen, key=lambda s: s["value"])

    assert by_value(after) == by_value(before)
    assert [s["value"] for s in after if s["key"] == KEYS[0].encode()] == [b'{"n": 0}', b'{"n": 5}']  # in order


def _failing_ack(broker: KafkaBroker, fail_at: int) -> list[int]:
    """Make the producer's ``fail_at``-th send of each round's call come back with a failed acknowledgement."""
    producer = producer_of(broker)
    assert producer is not None
    real_send = producer.send
    calls: list[int] = []

    async def send(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        calls.append(1)
        if len(calls) != fail_at:
            return await real_send(*args, **kwargs)
        failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        failed.set_exception(KafkaTimeoutError("no acknowledgement"))
        return failed

    producer.send = send  # type: ignore[method-assign]
    return calls


@pytest.mark.postgres
async def test_a_failed_acknowledgement_keeps_the_rows_for_the_next_round(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    topic = f"t.ack.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, (topic,), 1, 1)
    metadata = new_metadata()
    inbox, outbox = messaging_tables(metadata)
    engine = make_engine(pg_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    signal = OutboxSignal()
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    broker = await _started(kafka_bootstrap, kafka_idempotence)
    relay = OutboxRelay(engine, outbox, broker, signal)

    async def pending() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())

    try:
        async with UnitOfWork(sessions, inbox, outbox, signal) as uow:
            for n in range(3):
                uow.publish_raw(topic, "k", f'{{"n": {n}}}'.encode(), str(uuid.uuid4()), {})
            await uow.commit()
        _failing_ack(broker, fail_at=2)
        with pytest.raises(KafkaTimeoutError):
            await relay.relay_once()
        assert await pending() == 3  # the two acknowledged sends do not delete their rows either
        assert signal.held() == 3
        assert await relay.relay_once() == 3  # the next round sends all three again
        assert await pending() == 0
    finally:
        await broker.stop()
        await engine.dispose()
    values = [r.value for r in await _records(kafka_bootstrap, topic, 5)]
    assert values == [b'{"n": 0}', b'{"n": 2}', b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']  # at least once
