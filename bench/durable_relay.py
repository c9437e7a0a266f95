"""The ``durable`` baseline's relay process: the raw relay's hops made durable the way the services are, no logic.

Each relay consumes a batch and, in ONE asyncpg transaction on its own PostgreSQL database, claims the batch's
event ids in its inbox table (one ``INSERT .. ON CONFLICT DO NOTHING RETURNING``) and writes an output row for
every claimed event (one ``INSERT .. SELECT unnest``); after the commit it produces the batch and commits the
offsets. A redelivered batch claims nothing and writes nothing, but is produced again (the next hop's inbox drops
it), so a crash between the commit and the produce loses nothing. This is the cheapest correct version of what
every service does per batch (inbox, transaction, output row, publish, commit after the DB), hence the fairer
limit the pipeline is compared with. Run as ``python -m bench.durable_relay --dsn DSN --source T1 ...``
(``bench.durable.DurableSystem`` starts three); it imports only asyncpg, aiokafka and the raw relay's loop, so
it starts quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg

from bench.relays import relay_loop

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
    """Consume ``source`` in batches; claim + write in one transaction; produce to ``target``; commit offsets.

    The raw relay's loop (``bench.relays.relay_loop``) with the inbox transaction before the produce; a batch
    read again after a broker error claims nothing (the inbox makes it a no-op)."""
    conn = await asyncpg.connect(dsn)
    await create_schema(conn)

    async def claim(records: list[Any]) -> None:
        # The event id is the record key (the baselines key every message by its sequence number).
        await claim_and_write(conn, [(r.key.decode(), r.value) for r in records])

    try:
        await relay_loop(bootstrap, source, target, group, fetch_wait_ms, before_produce=claim)
    finally:
        await conn.close()


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
