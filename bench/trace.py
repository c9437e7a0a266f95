"""Per-stage timing read back from the broker: Kafka record timestamps of each topic, between two offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

Offsets = dict[TopicPartition, int]
Extract = Callable[[ConsumerRecord[Any, Any]], int | None]


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> Offsets:
    """Current end offset of every partition of ``topics``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = []
        for t in topics:
            parts = consumer.partitions_for_topic(t) or await _partitions(consumer, t)
            tps += [TopicPartition(t, p) for p in sorted(parts)]
        return dict(await consumer.end_offsets(tps)) if tps else {}
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def read_range(
    bootstrap: str,
    start: Offsets,
    extract: Mapping[str, Extract],
    expected: Collection[int],
    idle_s: float = 2.0,
    timeout_s: float = 120.0,
) -> dict[str, dict[int, float]]:
    """For each topic, ``{seq: record timestamp in epoch seconds}`` of records from ``start`` on.

    Reads until every topic has shown every ``expected`` sequence, or nothing new came for ``idle_s``, or
    ``timeout_s``. (End offsets are not used as the bound: Tansu reports a lagging high watermark.)
    ``extract[topic]`` maps a record to its sequence number (None to skip it); the first record of a sequence
    wins, so a redelivery does not overwrite the first publish time.
    """
    out: dict[str, dict[int, float]] = {t: {} for t in extract}
    if not start:
        return out
    want = set(expected)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, first in start.items():
            consumer.seek(tp, first)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last_new = loop.time()
        while loop.time() < deadline and loop.time() - last_new < idle_s:
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            for tp, records in batch.items():
                if records:
                    last_new = loop.time()
                seen = out[tp.topic]
                fn = extract[tp.topic]
                for r in records:
                    seq = fn(r)
                    if seq is not None and seq not in seen:
                        seen[seq] = r.timestamp / 1000.0
            if all(want <= seen.keys() for seen in out.values()):
                break
    finally:
        await consumer.stop()
    return out
