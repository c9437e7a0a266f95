"""The Kafka conventions on a real broker and PostgreSQL: redelivery, inbox dedupe, outbox, dead letters."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import Field
from sqlalchemy import Column, Integer, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker

from psp_common.db import OutboxSignal, UnitOfWork, make_engine, messaging_tables, new_metadata
from psp_common.events.envelope import Envelope
from psp_common.kafka import DeadLetters, ensure_topics, make_broker, subscribe_events
from psp_common.outbox import OutboxRelay
from psp_common.settings import ServiceSettings
from tests.clock import TEST_NOW
from tests.support import eventually, one_by_one, produce, read_topic

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


class Ping(Envelope):
    """Test event."""

    n: int = Field(description="A number.")


async def test_redelivery_dedupe_outbox_and_dead_letter(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    src, out, dead, group = f"t.in.{suffix}", f"t.out.{suffix}", f"t.dead.{suffix}", f"g-{suffix}"
    await ensure_topics(kafka_bootstrap, (src, out, dead), 1, 1)
    metadata = new_metadata()
    inbox, outbox = messaging_tables(metadata)
    seen = Table("seen", metadata, Column("id", Integer, primary_key=True), Column("event_id", String(64)))
    engine = make_engine(pg_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    signal = OutboxSignal()
    settings = ServiceSettings(
        kafka_bootstrap=kafka_bootstrap, kafka_idempotence=kafka_idempotence, retry_backoff_s=0.01, max_attempts=3
    )
    broker = make_broker(settings)
    failures = {"left": 2}

    async def handler(event: Ping, uow: UnitOfWork) -> None:
        await uow.session.execute(insert(seen).values(event_id=str(event.event_id)))
        uow.publish(out, Ping(occurred_at=TEST_NOW, correlation_id=event.correlation_id, n=event.n + 1))
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, ConnectionResetError())  # rolled back, then redelivered

    subscribe_events(
        broker,
        topic=src,
        group_id=group,
        model=Ping,
        handler_many=one_by_one(handler),
        uow_factory=lambda: UnitOfWork(sessions, inbox, outbox, signal),
        settings=settings,
        dead_letters=DeadLetters(broker, "test", topic=dead),
    )
    relay = OutboxRelay(engine, outbox, broker, signal, idle_poll_s=0.1)
    event = Ping(occurred_at=TEST_NOW, correlation_id=uuid.uuid4(), n=1)
    await broker.start()
    relay.start()
    try:
        await produce(kafka_bootstrap, src, event.model_dump_json().encode(), key=b"a")
        await produce(kafka_bootstrap, src, event.model_dump_json().encode(), key=b"a")  # replay
        await produce(kafka_bootstrap, src, b'{"event_id": 42}', key=b"b")  # poison
        outs = await read_topic(kafka_bootstrap, out, count=1, timeout=60)
        deads = await read_topic(kafka_bootstrap, dead, count=1, timeout=60)

        async def committed() -> bool:
            consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
            await consumer.start()
            try:
                return await consumer.committed(TopicPartition(src, 0)) == 3
            finally:
                await consumer.stop()

        await eventually(committed, timeout=30)
        await asyncio.sleep(1.0)  # give a wrongly duplicated publish time to show up
        outs = await read_topic(kafka_bootstrap, out, count=10, timeout=3)
    finally:
        await relay.stop()
        await broker.stop()
    async with sessions() as s:
        rows = (await s.execute(select(func.count()).select_from(seen))).scalar_one()
        pending = (await s.execute(select(func.count()).select_from(outbox))).scalar_one()
    await engine.dispose()
    assert failures["left"] == 0  # the transient failures happened and were retried
    assert rows == 1  # exactly once in the database despite two failures and a replay
    assert pending == 0  # the outbox drained
    assert [m["value"]["n"] for m in outs] == [2]  # exactly one publish
    assert deads[0]["headers"]["x-dlq-source-topic"] == src
    assert deads[0]["headers"]["x-dlq-reason"].startswith("validation failed")
