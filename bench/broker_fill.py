"""How the embedded Tansu's fetch cost grows with what a partition holds: one batch per message vs batched.

``uv run python -m bench.broker_fill [--steps 4] [--per-step 10000]``: a fresh embedded broker per mode; after
each step of produced messages, the wall time and the broker's CPU time of one fetch of the last record.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.cpu import cpu_seconds
from psp_common.embedded import EmbeddedBroker
from psp_common.kafka import ensure_topics

BODY = b"x" * 535  # an occurrence report's size in the bench


async def fetch_cost(bootstrap: str, topic: str, broker_pid: int, rounds: int = 20) -> tuple[float, float]:
    """Mean wall ms and broker CPU ms of a fetch of the partition's last record."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    end = (await consumer.end_offsets([tp]))[tp]
    t0, cpu0 = time.perf_counter(), cpu_seconds(broker_pid) or 0.0
    for _ in range(rounds):
        consumer.seek(tp, max(0, end - 1))
        await consumer.getmany(tp, timeout_ms=2000)
    wall, cpu = time.perf_counter() - t0, (cpu_seconds(broker_pid) or 0.0) - cpu0
    await consumer.stop()
    return 1000 * wall / rounds, 1000 * cpu / rounds


async def fill(mode: str, steps: int, per_step: int) -> None:
    """Produce ``steps`` x ``per_step`` messages, one awaited send each (``single``) or all at once (``batched``)."""
    broker = EmbeddedBroker().start()
    assert broker.proc is not None
    try:
        await ensure_topics(broker.bootstrap, ["fill"], 1, 1)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=False)
        await producer.start()
        for step in range(1, steps + 1):
            if mode == "single":
                for _ in range(per_step):
                    await (await producer.send("fill", BODY, partition=0))
            else:
                await asyncio.gather(*[await producer.send("fill", BODY, partition=0) for _ in range(per_step)])
            wall, cpu = await fetch_cost(broker.bootstrap, "fill", broker.proc.pid)
            print(f"{mode:>7}: {step * per_step:>7,} stored, one fetch: {wall:8.1f} ms wall, {cpu:7.1f} broker CPU ms")
        await producer.stop()
    finally:
        broker.stop()


def main() -> None:
    """Both modes, one after the other."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--per-step", type=int, default=10_000)
    args = p.parse_args()
    for mode in ("batched", "single"):
        asyncio.run(fill(mode, args.steps, args.per_step))


if __name__ == "__main__":
    main()
