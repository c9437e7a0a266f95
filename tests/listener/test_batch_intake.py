"""Kafka intake in batches: one transaction per batch, amendments inside a batch still ordered."""

from __future__ import annotations

import json

from sqlalchemy import select

from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_listener import handlers
from psp_listener.adapters.orm import metadata, outbox
from psp_listener.bootstrap import MIGRATIONS
from psp_listener.domain.model import Disposition
from psp_listener.settings import ListenerSettings
from tests.listener.conftest import make_normalizer
from tests.listener.test_intake_foundation import report


async def test_batch_orders_amendments_and_commits_once(sqlite_url: str) -> None:
    await upgrade_async(MIGRATIONS, sqlite_url)
    rt = Runtime(ListenerSettings(database_url=sqlite_url), metadata, MIGRATIONS)
    norm = make_normalizer()
    bodies = [
        report("B-1", 1, harm_level="mild"),
        report("B-1", 2, harm_level="death"),
        report("B-1", 1, harm_level="mild"),  # late resend of v1: older than what the batch already stored
        report("B-1", 2, harm_level="death"),  # duplicate of v2
        report("B-2", 1),
    ]
    events = [norm.parse_native(json.dumps(b).encode()) for b in bodies]
    try:
        async with rt.uow() as uow:
            outcomes = await handlers.accept_batch(events, uow)
        assert [o.disposition for o in outcomes] == [
            Disposition.ACCEPTED,
            Disposition.ACCEPTED,
            Disposition.SUPERSEDED,
            Disposition.DUPLICATE,
            Disposition.ACCEPTED,
        ]
        async with rt.session() as s:
            payloads = [
                json.loads(p) for p in (await s.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars()
            ]
        assert [(p["incident_ref"] == events[0].incident_ref, p["report_version"]) for p in payloads] == [
            (True, 1),
            (True, 2),
            (False, 1),
        ]
    finally:
        await rt.engine.dispose()
