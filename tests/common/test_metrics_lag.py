"""Consumer lag is read from the broker at scrape time: an idle or stuck consumer's lag is current."""

from __future__ import annotations

from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from psp_common.kafka import ensure_topics
from psp_common.lag import BrokerLag
from psp_common.metrics import Metrics
from tests.common.test_metrics import parse, value


async def _produce(bootstrap: str, topic: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=b"k", partition=0)
    finally:
        await producer.stop()


async def _commit(bootstrap: str, topic: str, group: str, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def test_lag_comes_from_committed_and_end_offsets_without_any_handled_batch(kafka_bootstrap: str) -> None:
    topic, group, idle_group = f"lag-{uuid4().hex[:8]}", f"g-{uuid4().hex[:8]}", f"idle-{uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, (topic,), partitions=1, replication=1)
    await _produce(kafka_bootstrap, topic, 5)
    await _commit(kafka_bootstrap, topic, group, 2)
    metrics = Metrics("svc")
    metrics.consumes(topic, group)
    metrics.consumes(topic, idle_group)  # never committed anything: everything is behind
    lag = BrokerLag(metrics, kafka_bootstrap, min_interval_s=0)
    metrics.refreshers.append(lag.refresh)
    try:
        families = parse((await metrics.render()).decode())
        assert value(families, "psp_consumer_lag", topic=topic, group=group, partition="0") == 3
        assert value(families, "psp_consumer_lag", topic=topic, group=idle_group, partition="0") == 5
        await _produce(kafka_bootstrap, topic, 4)  # new records, and no consumer handles them
        families = parse((await metrics.render()).decode())
        assert value(families, "psp_consumer_lag", topic=topic, group=group, partition="0") == 7
    finally:
        await lag.close()


async def test_reads_are_spaced_by_the_minimum_interval(kafka_bootstrap: str) -> None:
    topic, group = f"lag-{uuid4().hex[:8]}", f"g-{uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, (topic,), partitions=1, replication=1)
    await _produce(kafka_bootstrap, topic, 1)
    metrics = Metrics("svc")
    metrics.consumes(topic, group)
    lag = BrokerLag(metrics, kafka_bootstrap, min_interval_s=3600)
    try:
        await lag.refresh()
        await _produce(kafka_bootstrap, topic, 2)
        await lag.refresh()  # within the interval: no second read
        families = parse((await metrics.render()).decode())
        assert value(families, "psp_consumer_lag", topic=topic, group=group, partition="0") == 1
    finally:
        await lag.close()


def test_every_subscription_registers_its_topic_and_group() -> None:
    from psp_common.stack import SERVICES

    assert SERVICES  # the services register through subscribe_raw; see test_metrics for a service's scrape
    from psp_common.kafka import DeadLetters, subscribe_raw
    from psp_common.settings import ServiceSettings

    class Broker:
        def subscriber(self, *_a: object, **_kw: object):  # type: ignore[no-untyped-def]
            return lambda fn: fn

    metrics = Metrics("svc")
    dead = DeadLetters(Broker(), "svc", metrics=metrics)  # type: ignore[arg-type]
    subscribe_raw(
        Broker(),  # type: ignore[arg-type]
        topic="t1",
        group_id="g1",
        parse=bytes,
        handle=lambda _m: None,  # type: ignore[arg-type,return-value]
        dead_letters=dead,
        settings=ServiceSettings(),
    )
    assert metrics.consumers == {("t1", "g1")}


async def test_a_service_scrape_shows_the_lag_of_every_group_before_it_handled_anything(
    kafka_bootstrap: str, sqlite_url: str
) -> None:
    from psp_common import topics
    from psp_listener import bootstrap as listener
    from psp_listener.entrypoints.consumers import GROUPS
    from psp_listener.settings import ListenerSettings
    from tests.common.test_metrics import scrape

    await ensure_topics(kafka_bootstrap, topics.ALL_TOPICS, partitions=1, replication=1)
    app = listener.build(ListenerSettings(database_url=sqlite_url, kafka_bootstrap=kafka_bootstrap))
    runtime = app.state.runtime
    try:
        families = await scrape(app)
    finally:
        await runtime.lag.close()
        await runtime.engine.dispose()
    for topic, group in GROUPS.items():
        assert ((("group", group), ("partition", "0"), ("service", "listener"), ("topic", topic))) in families[
            "psp_consumer_lag"
        ], (topic, group)


async def test_reading_lag_does_not_rebalance_the_group_it_reads(kafka_bootstrap: str) -> None:
    import asyncio

    from aiokafka.abc import ConsumerRebalanceListener

    topic, group = f"lag-{uuid4().hex[:8]}", f"g-{uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, (topic,), partitions=1, replication=1)
    await _produce(kafka_bootstrap, topic, 3)

    class Count(ConsumerRebalanceListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.revoked = 0
            self.assigned = 0

        async def on_partitions_revoked(self, revoked: object) -> None:
            self.revoked += 1

        async def on_partitions_assigned(self, assigned: object) -> None:
            self.assigned += 1

    count = Count()
    member = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    member.subscribe([topic], listener=count)
    await member.start()
    metrics = Metrics("svc")
    metrics.consumes(topic, group)
    lag = BrokerLag(metrics, kafka_bootstrap, min_interval_s=0)
    try:
        await member.getmany(timeout_ms=2000)  # joined: one assignment
        assert count.assigned == 1 and member.assignment() == {TopicPartition(topic, 0)}
        revoked = count.revoked  # aiokafka calls it once before the first join, too
        for _ in range(3):
            await lag.refresh()
        await member.getmany(timeout_ms=500)
        await asyncio.sleep(0)
        assert count.assigned == 1 and count.revoked == revoked  # the reader never joined the group
        assert member.assignment() == {TopicPartition(topic, 0)}
    finally:
        await lag.close()
        await member.stop()
