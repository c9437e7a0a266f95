"""Per-stage timing read back from the broker: Kafka record timestamps of each topic, between two offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
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
    bootstrap: str, start: Offsets, end: Offsets, extract: Mapping[str, Extract], timeout_s: float = 120.0
) -> dict[str, dict[int, float]]:
    """For each topic, ``{seq: record timestamp in epoch seconds}`` of records in [start, end).

    ``extract[topic]`` maps a record to the load sequence number it belongs to (None to skip it); the first
    record of a sequence wins (a redelivery does not overwrite the first publish time).
    """
    todo = {tp: (start.get(tp, 0), off) for tp, off in end.items() if off > start.get(tp, 0)}
    out: dict[str, dict[int, float]] = {t: {} for t in extract}
    if not todo:
        return out
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    try:
        consumer.assign(list(todo))
        for tp, (first, _) in todo.items():
            consumer.seek(tp, first)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        remaining = set(todo)
        while remaining and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                stop_at = todo[tp][1]
                seen = out[tp.topic]
                fn = extract[tp.topic]
                for r in records:
                    if r.offset >= stop_at:
                        break
                    seq = fn(r)
                    if seq is not None and seq not in seen:
                        seen[seq] = r.timestamp / 1000.0
            for tp in list(remaining):
                if await consumer.position(tp) >= todo[tp][1]:
                    remaining.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return out
