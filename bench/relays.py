"""Relay stages of the baseline systems, one process each: consume a topic, re-produce to the next.

``raw``: plain aiokafka, manual commit after the produced batch is acknowledged (at least once, no framework).
``faststream``: a FastStream subscriber with group_id and AckPolicy.NACK_ON_ERROR re-publishing each message,
the way the services' consumers are wired, but with no database and no business logic.
Run as ``python -m bench.relays {raw,faststream} --source T1 --target T2 --group G --bootstrap HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import Any

BatchStep = Callable[[list[Any]], Awaitable[None]]


async def relay_loop(
    bootstrap: str,
    source: str,
    target: str,
    group: str,
    fetch_wait_ms: int = 500,
    before_produce: BatchStep | None = None,
) -> None:
    """Consume ``source`` in batches, (``before_produce`` the batch's records,) produce each record to ``target``,
    commit once the batch is acked; on a broker error read the batch again from the last commit.

    The loop of the ``raw`` relay and, with its inbox transaction as ``before_produce``, of the ``durable`` one
    (``bench.durable_relay``): the two baselines differ only in that step.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.errors import KafkaError

    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_wait_ms,
    )
    # A long request timeout rides out the drain scenario's paused broker (as the bench's own producer does).
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, request_timeout_ms=180_000
    )
    await producer.start()
    await consumer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            if before_produce is not None:
                await before_produce(records)
            try:
                futures = [await producer.send(target, r.value, key=r.key) for r in records]
                await asyncio.gather(*futures)
                await consumer.commit()
            except KafkaError:  # broker gone for a while: read the batch again from the last commit
                await asyncio.sleep(0.5)
                with contextlib.suppress(KafkaError):
                    await consumer.seek_to_committed()
    finally:
        await consumer.stop()
        await producer.stop()


async def raw_relay(bootstrap: str, source: str, target: str, group: str, fetch_wait_ms: int = 500) -> None:
    """Consume ``source`` in batches, produce each record to ``target``, commit once the batch is acked."""
    await relay_loop(bootstrap, source, target, group, fetch_wait_ms)


async def faststream_relay(bootstrap: str, source: str, target: str, group: str, fetch_wait_ms: int = 500) -> None:
    """A FastStream app whose one subscriber re-publishes every message (explicit group + ack policy)."""
    from faststream import AckPolicy, Context, FastStream
    from faststream.kafka import KafkaBroker
    from faststream.kafka.message import KafkaMessage

    broker = KafkaBroker(bootstrap, acks="all", enable_idempotence=False, graceful_timeout=5.0)

    @broker.subscriber(
        source,
        group_id=group,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_wait_ms,
    )
    async def relay(body: dict[str, Any], msg: KafkaMessage = Context("message")) -> None:
        raw = msg.raw_message
        key = raw[0].key if isinstance(raw, tuple) else raw.key
        await broker.publish(body, target, key=key)

    app = FastStream(broker)
    await app.run()


def main() -> None:
    """Parse the stage's arguments and run it until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["raw", "faststream"])
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--fetch-max-wait-ms", type=int, default=500, help="consumer long-poll bound")
    args = parser.parse_args()
    run = raw_relay if args.kind == "raw" else faststream_relay
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.bootstrap, args.source, args.target, args.group, args.fetch_max_wait_ms))


if __name__ == "__main__":
    main()
