"""Matching: a closed outreach stops re-matching and, after the retention window, loses whom it supported."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_common.retention import Retention
from psp_matching.adapters.cases import CaseRepository
from psp_matching.adapters.orm import assignments, cases, members, supported
from psp_matching.retention import purge_closed
from psp_matching.set_based import on_status_many
from tests.matching.conftest import Service
from tests.matching.factories import NOW
from tests.matching.test_handlers import handle, published, register, request


async def close(
    svc: Service, case_id: uuid.UUID, status: OutreachStatus = OutreachStatus.CLOSED, at: datetime = NOW
) -> None:
    event = OutreachStatusChanged(
        occurred_at=at, correlation_id=uuid.uuid4(), case_id=case_id, status=status, facility="GEN", unit="ICU"
    )
    async with svc.container.runtime.uow() as uow:
        await on_status_many([event], uow, svc.container.deps)
        await uow.commit()


async def rows(svc: Service, table: Any) -> list[dict[str, Any]]:
    async with svc.container.runtime.session() as s:
        return [dict(r._mapping) for r in (await s.execute(select(table))).all()]


def retention(svc: Service, days: float, batch: int = 500) -> Retention:
    return Retention(svc.container.runtime.uow, purge_closed, 90, batch, 3600, lambda: NOW + timedelta(days=days))


async def test_closed_case_is_purged_after_the_window_and_not_rematched(svc: Service) -> None:
    await register(svc, "S-1")
    old, kept = request(svc, ["E-1"]), request(svc, ["E-2"])
    await handle(svc, old)
    await handle(svc, kept)
    await close(svc, kept.case_id, OutreachStatus.CONTACTED)  # not a closure
    await close(svc, old.case_id)
    assert len(await published(svc)) == 2
    # a late escalation of the closed case and a coordinator re-match are both refused
    await handle(svc, request(svc, ["E-1", "E-3"], case_id=old.case_id, urgency="immediate"))
    assert len(await published(svc)) == 2
    r = await svc.client.post(f"/v1/cases/{old.case_id}:rematch", json={})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "case_id"
    assert await retention(svc, 89).tick() == 0
    assert await retention(svc, 91).tick() == 1
    assert await retention(svc, 91).tick() == 0
    by_case = {c["case_id"]: c for c in await rows(svc, cases)}
    gone, alive = by_case[str(old.case_id)], by_case[str(kept.case_id)]
    assert gone["people"] == [] and gone["roles"] == {} and gone["purged_at"] is not None
    assert alive["people"] == [svc.ref("E-2")] and alive["purged_at"] is None
    asg = {a["case_id"]: a for a in await rows(svc, assignments)}
    assert asg[str(old.case_id)]["supported"] == [] and asg[str(old.case_id)]["candidates"] == []
    assert asg[str(kept.case_id)]["supported"] == [svc.ref("E-2")]
    assert {s["person_ref"] for s in await rows(svc, supported)} == {svc.ref("E-2")}
    # who was on the team stays: the monthly cap and fairness still count the purged case
    assert {m["case_id"] for m in await rows(svc, members)} == {str(old.case_id), str(kept.case_id)}
    raw = (await svc.client.get(f"/v1/cases/{old.case_id}")).text
    assert svc.ref("E-1") not in raw


async def test_retention_starts_when_the_outreach_closed_not_when_the_status_arrived(svc: Service) -> None:
    await register(svc, "S-1")
    case = request(svc, ["E-1"])
    await handle(svc, case)
    await close(svc, case.case_id, at=NOW - timedelta(days=30))  # handled at NOW: the status arrived late
    assert await retention(svc, 59).tick() == 0  # 89 days after the closure
    assert await retention(svc, 61).tick() == 1  # 91 days after it (61 after the status arrived)


async def test_continuity_index_finds_supporters_of_a_person(svc: Service) -> None:
    await register(svc, "S-1")
    await register(svc, "S-2")
    first = request(svc, ["E-1", "E-2"])
    await handle(svc, first)
    primary = (await published(svc))[0][1]["primary"]["supporter_ref"]
    async with svc.container.runtime.session() as s:
        repo = CaseRepository(s)
        assert await repo.supporting(frozenset({svc.ref("E-2")}), NOW - timedelta(days=1)) == {primary}
        assert await repo.supporting(frozenset({svc.ref("E-9")}), NOW - timedelta(days=1)) == frozenset()
        assert await repo.supporting(frozenset({svc.ref("E-1")}), NOW + timedelta(seconds=1)) == frozenset()
        assert await repo.supporting(frozenset(), NOW - timedelta(days=1)) == frozenset()
