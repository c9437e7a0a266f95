"""Kafka intake in batches: one transaction per batch, amendments inside a batch still ordered."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import select

from psp_common.events.intake import IncidentObserved
from psp_common.events.outreach import RuleHit
from psp_common.events.referral import ReferralObserved
from psp_common.events.triage import TriageRequested
from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_listener import handlers
from psp_listener.adapters.drafts import Intake
from psp_listener.adapters.orm import metadata, outbox
from psp_listener.bootstrap import MIGRATIONS
from psp_listener.domain.model import Disposition
from psp_listener.domain.triage import TriageStatus
from psp_listener.normalizer import Normalizer
from psp_listener.settings import ListenerSettings
from tests.listener.conftest import make_normalizer
from tests.listener.test_intake_foundation import report
from tests.statements import counting


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


def _native(norm: Normalizer, prefix: str, n: int, version: int = 1) -> list[Intake]:
    return [norm.parse_native(json.dumps(report(f"{prefix}-{i}", version)).encode()) for i in range(n)]


@pytest.mark.postgres
async def test_a_batch_takes_a_constant_number_of_statements_whatever_its_size(pg_url: str) -> None:
    await upgrade_async(MIGRATIONS, pg_url)
    rt = Runtime(ListenerSettings(database_url=pg_url), metadata, MIGRATIONS)
    norm = make_normalizer()
    drafts = [report(f"D-{i}", 1, involved_staff=[]) for i in range(2)]  # nobody identified: held for triage
    try:
        counts = []
        for prefix, n in (("S", 3), ("L", 40)):
            async with rt.uow() as uow:
                with counting(rt.engine) as seen:
                    await handlers.accept_batch(_native(norm, prefix, n), uow)
            counts.append(seen.kinds())
        # New reports only: one statement stores them (and says they were new); nothing to read or lock.
        assert counts[0] == counts[1] == Counter({"INSERT reports": 1, "INSERT outbox": 1})
        mixed = [  # amendments of stored reports, new ones, drafts, a resend
            *_native(norm, "L", 20, version=2),
            *_native(norm, "N", 20),
            *(norm.parse_native(json.dumps(d).encode()) for d in drafts),
            *_native(norm, "S", 3),
        ]
        async with rt.uow() as uow:
            with counting(rt.engine) as seen:
                outcomes = await handlers.accept_batch(mixed, uow)
        assert [o.disposition for o in outcomes].count(Disposition.TRIAGED) == 2
        assert [o.disposition for o in outcomes][-3:] == [Disposition.DUPLICATE] * 3
        assert seen.kinds() == Counter(
            {
                "SELECT reports": 1,
                "INSERT reports": 1,
                "UPDATE reports": 1,
                "INSERT triage": 1,
                "UPDATE triage": 1,
                "INSERT outbox": 1,
            }
        )
        refs = [f"R-{i}" for i in range(30)]
        events = [_referral(norm, ref) for ref in [*refs, *refs[:5]]]
        async with rt.uow() as uow:
            with counting(rt.engine) as seen:
                outcomes = await handlers.accept_referrals(events, uow)
        assert seen.kinds() == Counter({"INSERT reports": 1, "INSERT outbox": 1})
        assert [o.disposition for o in outcomes].count(Disposition.ACCEPTED) == 30
    finally:
        await rt.engine.dispose()


def _referral(norm: Normalizer, ref: str) -> ReferralObserved:
    body = {"referral_id": ref, "kind": "self", "facility": "GEN", "urgency": "today", "person": {"staff_id": "E1"}}
    return norm.parse_referral(json.dumps(body).encode())


@pytest.mark.postgres
async def test_routed_incidents_are_held_in_a_constant_number_of_statements(pg_url: str) -> None:
    await upgrade_async(MIGRATIONS, pg_url)
    rt = Runtime(ListenerSettings(database_url=pg_url), metadata, MIGRATIONS)
    norm = make_normalizer()
    try:
        async with rt.uow() as uow:
            await handlers.accept_batch(_native(norm, "T", 6, version=2), uow)  # version 2 stored
        for n in (2, 12):
            routed = [_routed(i) for i in (*_native(norm, "T", n // 2), *_native(norm, "T", n // 2, version=2))]
            async with rt.uow() as uow:
                with counting(rt.engine) as seen:
                    items = await handlers.hold_routed_many(routed, uow)
                await uow.commit()
            assert seen.kinds() == Counter({"SELECT reports": 1, "INSERT triage": 1})
            assert [i.status for i in items] == [TriageStatus.SUPERSEDED] * (n // 2) + [TriageStatus.OPEN] * (n // 2)
    finally:
        await rt.engine.dispose()


def _routed(incident: Intake) -> TriageRequested:
    assert isinstance(incident, IncidentObserved)
    hit = RuleHit(rule_id="unsafe-condition-ask", text="a triage rule fired")
    return TriageRequested(
        occurred_at=incident.occurred_at,
        correlation_id=incident.correlation_id,
        incident=incident,
        rules_fired=(hit,),
        ruleset_version="test",
    )
