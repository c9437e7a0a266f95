"""The bench's ``durable`` baseline: inbox claim + output row in one transaction per batch, then produce and commit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bench.durable import DurableSystem
from bench.durable_relay import claim_and_write, create_schema
from tests.support import create_database, drop_database, eventually, produce, read_topic

pytestmark = pytest.mark.postgres


@pytest.fixture
async def hop_db(pg_admin_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    dsn, _ = await create_database(pg_admin_dsn)
    conn = await asyncpg.connect(dsn)
    await create_schema(conn)
    try:
        yield conn
    finally:
        await conn.close()
        await drop_database(pg_admin_dsn, dsn.rsplit("/", 1)[1])


async def _rows(conn: asyncpg.Connection, table: str) -> dict[str, bytes | None]:
    if table == "inbox":
        return {r[0]: None for r in await conn.fetch("SELECT event_id FROM inbox")}
    return {r[0]: r[1] for r in await conn.fetch("SELECT event_id, body FROM output")}


async def test_a_redelivered_batch_claims_nothing_and_writes_nothing(hop_db: asyncpg.Connection) -> None:
    batch = [("1", b"one"), ("2", b"two"), ("2", b"two")]  # a duplicate inside the batch too
    assert sorted(await claim_and_write(hop_db, batch)) == ["1", "2"]
    assert await _rows(hop_db, "output") == {"1": b"one", "2": b"two"}

    assert await claim_and_write(hop_db, batch) == []  # redelivered as is
    assert await claim_and_write(hop_db, [("2", b"changed"), ("3", b"three")]) == ["3"]  # partly new
    assert await _rows(hop_db, "output") == {"1": b"one", "2": b"two", "3": b"three"}
    assert set(await _rows(hop_db, "inbox")) == {"1", "2", "3"}


async def test_claim_and_output_row_commit_or_roll_back_together(hop_db: asyncpg.Connection) -> None:
    await hop_db.execute("ALTER TABLE output ADD CONSTRAINT small CHECK (length(body) < 4)")
    with pytest.raises(asyncpg.CheckViolationError):
        await claim_and_write(hop_db, [("9", b"too long")])
    assert await _rows(hop_db, "inbox") == {}  # the claim rolled back with the failed output row
    assert await claim_and_write(hop_db, [("9", b"ok")]) == ["9"]  # so the retry claims it


@pytest.mark.kafka
async def test_durable_relays_deliver_once_and_their_inboxes_drop_a_redelivered_batch(
    kafka_bootstrap: str, pg_admin_dsn: str, tmp_path: Path
) -> None:
    system = DurableSystem(kafka_bootstrap, tmp_path, pg_admin_dsn, partitions=1, fetch_wait_ms=50)
    try:
        await system.start()  # passes one probe message (seq 0) end to end
        seqs = system.take(20)
        for s in seqs:
            await system.send(s)
        await system.flush()
        await eventually(lambda: _true(system.arrived(seqs) == len(seqs)), timeout=120)
        sink = await read_topic(kafka_bootstrap, system.topics[3], count=21, timeout=60)
        keys = [int(m["key"]) for m in sink]
        assert sorted(keys) == [0, *seqs]  # each once, the probe included
        expected = {str(s) for s in [0, *seqs]}
        for dsn in system.dsns:
            conn = await asyncpg.connect(dsn)
            try:
                assert set(await _rows(conn, "inbox")) == expected
                assert set(await _rows(conn, "output")) == expected
            finally:
                await conn.close()

        # Redeliver a batch: the same events again on the first hop's topic.
        for s in seqs[:5]:
            body = json.dumps({"redelivered": s}).encode()
            await produce(kafka_bootstrap, system.topics[0], body, key=str(s).encode())
        # It is forwarded (so a crash between commit and produce loses nothing) ...
        again = await read_topic(kafka_bootstrap, system.topics[3], count=26, timeout=120)
        assert sorted(int(m["key"]) for m in again) == sorted([0, *seqs, *seqs[:5]])
        # ... but no hop claimed or wrote anything for it.
        for dsn in system.dsns:
            conn = await asyncpg.connect(dsn)
            try:
                outputs = await _rows(conn, "output")
                assert set(outputs) == expected and set(await _rows(conn, "inbox")) == expected
                assert not any(b"redelivered" in (b or b"") for b in outputs.values())
            finally:
                await conn.close()
        groups = await system.cpu_groups()  # CPU per report counts the relays and their PostgreSQL backends
        assert set(groups) == {"relay1", "relay2", "relay3", "postgres"} and len(groups["postgres"]) >= 3
    finally:
        await system.stop()


async def _true(value: bool) -> bool:
    return value
