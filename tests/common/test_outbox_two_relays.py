"""Two service instances share one PostgreSQL database, each with an outbox relay: every case's events still
reach the topic in order, none is lost and none is published twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy import func, insert, select

from psp_common.db import OutboxSignal, make_engine, messaging_tables, new_metadata
from psp_common.kafka import ensure_topics, make_broker
from psp_common.outbox import OutboxRelay
from psp_common.settings import ServiceSettings
from tests.support import read_topic

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

KEYS, PER_KEY = 8, 25
CREATED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class SlowBroker:
    """A broker whose publishes take a little longer (a busier instance), so a racing relay would overtake it."""

    def __init__(self, inner: KafkaBroker, delay: float) -> None:
        self._inner, self._delay = inner, delay

    async def publish(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(self._delay)
        return await self._inner.publish(*args, **kwargs)


async def test_two_relays_keep_each_keys_order_lose_nothing_and_publish_nothing_twice(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    topic = f"t.relays.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, (topic,), 3, 1)
    metadata = new_metadata()
    _, outbox = messaging_tables(metadata)
    engines = [make_engine(pg_url), make_engine(pg_url)]  # two instances: two pools
    async with engines[0].begin() as conn:
        await conn.run_sync(metadata.create_all)
        rows = [  # the cases' events interleaved, as concurrent handlers commit them
            {
                "event_id": str(uuid.uuid4()),
                "topic": topic,
                "key": f"case-{k}",
                "payload": json.dumps({"case": k, "seq": i}).encode(),
                "headers": {},
                "created_at": CREATED,
                "attempts": 0,
            }
            for i in range(PER_KEY)
            for k in range(KEYS)
        ]
        await conn.execute(insert(outbox), rows)
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, kafka_idempotence=kafka_idempotence)
    brokers = [make_broker(settings), make_broker(settings)]
    relays = [
        OutboxRelay(engines[0], outbox, cast(KafkaBroker, SlowBroker(brokers[0], 0.01)), OutboxSignal(), batch=7),
        OutboxRelay(engines[1], outbox, brokers[1], OutboxSignal(), batch=7),
    ]
    for broker in brokers:
        await broker.start()
    try:
        for relay in relays:
            relay.start()
        got = await read_topic(kafka_bootstrap, topic, count=len(rows), timeout=90)
        await asyncio.sleep(1.0)  # give a duplicate publish time to show up
        got = await read_topic(kafka_bootstrap, topic, count=len(rows) + 1, timeout=3)
    finally:
        for relay in relays:
            await relay.stop()
        for broker in brokers:
            await broker.stop()
    async with engines[0].connect() as conn:
        pending = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
    for engine in engines:
        await engine.dispose()
    assert pending == 0
    assert len(got) == len(rows)  # nothing lost, nothing twice
    for k in range(KEYS):
        seqs = [m["value"]["seq"] for m in got if m["value"]["case"] == k]
        assert seqs == list(range(PER_KEY)), f"case-{k} out of order: {seqs}"
    assert sum(r.published for r in relays) == len(rows)
