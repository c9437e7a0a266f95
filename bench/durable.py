"""The ``durable`` baseline: the raw relay's four hops, each made durable the way the services are, minus the logic.

Each relay consumes a batch and, in ONE asyncpg transaction on its own PostgreSQL database, claims the batch's
event ids in its inbox table (one ``INSERT .. ON CONFLICT DO NOTHING RETURNING``) and writes an output row for
every claimed event (one ``INSERT .. SELECT unnest``); after the commit it produces the batch and commits the
offsets. A redelivered batch claims nothing and writes nothing, but is produced again (the next hop's inbox drops
it), so a crash between the commit and the produce loses nothing. This is the cheapest correct version of what
every service does per batch (inbox, transaction, output row, publish, commit after the DB), hence the fairer
limit the pipeline is compared with. Run as ``python -m bench.durable --dsn DSN --source T1 --target T2 ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from bench.systems import RelaySystem

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS inbox (event_id text PRIMARY KEY, claimed_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS output (event_id text PRIMARY KEY, body bytea NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())",
)
CLAIM = "INSERT INTO inbox (event_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING event_id"
WRITE = "INSERT INTO output (event_id, body) SELECT * FROM unnest($1::text[], $2::bytea[])"


async def create_schema(conn: asyncpg.Connection) -> None:
    """The hop's inbox and output tables (idempotent)."""
    for statement in SCHEMA:
        await conn.execute(statement)


async def claim_and_write(conn: asyncpg.Connection, events: Sequence[tuple[str, bytes]]) -> list[str]:
    """One transaction: claim the events' ids, write an output row for each newly claimed one; the new ids."""
    ids = [event_id for event_id, _ in events]
    async with conn.transaction():
        claimed = [r[0] for r in await conn.fetch(CLAIM, ids)]
        if claimed:
            new = set(claimed)
            rows = [(i, body) for i, body in dict(events).items() if i in new]
            await conn.execute(WRITE, [i for i, _ in rows], [b for _, b in rows])
    return claimed


async def durable_relay(
    bootstrap: str, source: str, target: str, group: str, dsn: str, fetch_wait_ms: int = 500
) -> None:
    """Consume ``source`` in batches; claim + write in one transaction; produce to ``target``; commit offsets."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.errors import KafkaError

    conn = await asyncpg.connect(dsn)
    await create_schema(conn)
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_wait_ms,
    )
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
            # The event id is the record key (the baselines key every message by its sequence number).
            await claim_and_write(conn, [(r.key.decode(), r.value) for r in records])
            try:
                futures = [await producer.send(target, r.value, key=r.key) for r in records]
                await asyncio.gather(*futures)
                await consumer.commit()
            except KafkaError:  # broker gone for a while: read the batch again (the inbox makes it a no-op)
                await asyncio.sleep(0.5)
                with contextlib.suppress(KafkaError):
                    await consumer.seek_to_committed()
    finally:
        await consumer.stop()
        await producer.stop()
        await conn.close()


class DurableSystem(RelaySystem):
    """The relay shape of ``raw`` with a fresh PostgreSQL database per hop (inbox + output table each)."""

    def __init__(
        self, bootstrap: str, workdir: Path, pg_admin_dsn: str, partitions: int = 3, fetch_wait_ms: int = 500
    ) -> None:
        super().__init__("durable", bootstrap, workdir, partitions, fetch_wait_ms)
        self.pg_admin_dsn = pg_admin_dsn
        self.dsns: list[str] = []

    async def start(self) -> None:
        """Three fresh databases (one per hop), then the relays, sink and probe as for ``raw``."""
        from tests.support import create_database

        self.dsns = [(await create_database(self.pg_admin_dsn))[0] for _ in range(3)]
        await super().start()

    def relay_command(self, hop: int) -> list[str]:
        """The raw relay's arguments plus the hop's database."""
        return [sys.executable, "-m", "bench.durable", *self.relay_args(hop), "--dsn", self.dsns[hop]]

    async def cpu_groups(self) -> dict[str, list[int]]:
        """The relays, the broker and the PostgreSQL backends serving the three databases."""
        from bench.cpu import postgres_backends

        groups = await super().cpu_groups()
        groups["postgres"] = await postgres_backends(self.pg_admin_dsn, [d.rsplit("/", 1)[1] for d in self.dsns])
        return groups

    async def stop(self) -> None:
        """Stop the relays, then drop the databases."""
        from tests.support import drop_database

        await super().stop()
        for dsn in self.dsns:
            with contextlib.suppress(Exception):
                await drop_database(self.pg_admin_dsn, dsn.rsplit("/", 1)[1])


def main() -> None:
    """Parse the hop's arguments and run it until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--dsn", required=True, help="the hop's own PostgreSQL database")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=500, help="consumer long-poll bound")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            durable_relay(args.bootstrap, args.source, args.target, args.group, args.dsn, args.fetch_max_wait_ms)
        )


if __name__ == "__main__":
    main()
