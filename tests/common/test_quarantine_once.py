"""The listener's quarantine holds a redelivered poison record once, under the same id."""

from __future__ import annotations

from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import create_async_engine

from psp_common.quarantine import DbQuarantine, quarantine_table


async def test_same_record_is_quarantined_once_and_a_positionless_body_each_time(pg_url: str) -> None:
    metadata = MetaData()
    table = quarantine_table(metadata)
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        hold = DbQuarantine(engine, table)
        at = {"x-dlq-source-topic": "intake", "x-dlq-source-partition": "0", "x-dlq-source-offset": "41"}
        first = await hold(b"not json", {**at, "x-dlq-reason": "bad"})
        again = await hold(b"not json", {**at, "x-dlq-reason": "bad"})
        other = await hold(b"not json", {**at, "x-dlq-source-offset": "42"})
        http_a = await hold(b"{}", {"x-dlq-source-topic": "http"})
        http_b = await hold(b"{}", {"x-dlq-source-topic": "http"})
        async with engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    finally:
        await engine.dispose()
    assert first == again and other != first
    assert http_a != http_b
    assert count == 4
