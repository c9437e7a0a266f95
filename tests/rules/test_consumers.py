"""The rules subscribers in-process (FastStream TestKafkaBroker, SQLite): wiring, dedupe, poison."""

from __future__ import annotations

from typing import Any

from faststream.kafka import TestKafkaBroker
from sqlalchemy import func, select

from psp_common import topics
from psp_common.migrations import upgrade_async
from psp_rules.adapters.orm import decisions, outbox
from psp_rules.bootstrap import MIGRATIONS, build
from psp_rules.settings import RulesSettings
from tests.rules.helpers import observed


async def test_subscriber_decides_dedupes_and_dead_letters(sqlite_url: str) -> None:
    await upgrade_async(MIGRATIONS, sqlite_url)
    app = build(RulesSettings(database_url=sqlite_url, kafka_create_topics=False))
    rt = app.state.container.runtime
    dead: list[Any] = []

    @rt.broker.subscriber(topics.DEAD_LETTER)
    async def _dlq(body: Any) -> None:
        dead.append(body)

    event = observed(ids=("E1",), harm_level="severe")
    async with TestKafkaBroker(rt.broker) as broker:
        for _ in range(2):
            await broker.publish(event.model_dump_json().encode(), topics.INCIDENT_OBSERVED, key=b"k")
        await broker.publish(b'{"incident_ref": 1}', topics.INCIDENT_OBSERVED, key=b"k")
    async with rt.session() as s:
        n_out = (await s.execute(select(func.count()).select_from(outbox))).scalar_one()
        n_dec = (await s.execute(select(func.count()).select_from(decisions))).scalar_one()
    await rt.engine.dispose()
    assert (n_out, n_dec) == (1, 1)
    assert len(dead) == 1
