"""The listener's quarantine is purged PSP_QUARANTINE_RETENTION_DAYS after each message arrived (clock injected)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from psp_common.migrations import upgrade_async
from psp_common.quarantine import DbQuarantine
from psp_listener.adapters.orm import quarantine
from psp_listener.bootstrap import MIGRATIONS, build
from psp_listener.settings import ListenerSettings

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def at(topic: str, offset: int) -> dict[str, str]:
    return {"x-dlq-source-topic": topic, "x-dlq-source-partition": "0", "x-dlq-source-offset": str(offset)}


async def test_quarantined_messages_are_deleted_after_the_retention_days(sqlite_url: str) -> None:
    await upgrade_async(MIGRATIONS, sqlite_url)
    app = build(ListenerSettings(database_url=sqlite_url, kafka_create_topics=False))
    c = app.state.container
    try:
        assert c.quarantine_retention.run in c.runtime.background and c.quarantine_retention.days == 30
        clock = [T0]
        hold = DbQuarantine(c.runtime.engine, quarantine, now=lambda: clock[0])
        old = await hold(b'{"narrative": "x"}', at("intake", 1))
        clock[0] = T0 + timedelta(days=20)
        recent = await hold(b'{"narrative": "y"}', at("intake", 2))
        purge = c.quarantine_retention
        purge.now = lambda: T0 + timedelta(days=29, hours=23)
        assert await purge.tick() == 0  # nothing is 30 days old yet
        purge.now = lambda: T0 + timedelta(days=30, hours=1)
        assert await purge.tick() == 1 and await purge.tick() == 0
        async with c.runtime.session() as s:
            assert list((await s.execute(select(quarantine.c.id))).scalars()) == [recent] != [old]
        purge.now = lambda: T0 + timedelta(days=51)
        assert await purge.tick() == 1
    finally:
        await c.runtime.engine.dispose()


async def test_quarantine_retention_days_is_a_setting(sqlite_url: str) -> None:
    await upgrade_async(MIGRATIONS, sqlite_url)
    app = build(ListenerSettings(database_url=sqlite_url, quarantine_retention_days=2, retention_batch=1))
    c = app.state.container
    try:
        hold = DbQuarantine(c.runtime.engine, quarantine, now=lambda: T0)
        for offset in range(3):
            await hold(b"poison", at("intake", offset))
        c.quarantine_retention.now = lambda: T0 + timedelta(days=2)
        assert await c.quarantine_retention.tick() == 3  # in batches of one, until nothing is due
    finally:
        await c.runtime.engine.dispose()
