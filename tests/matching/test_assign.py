"""A coordinator assigns a named supporter: they become primary of a new assignment superseding the current one
(published like a match); the cap and contact hours may be waived, the safety constraints never; bad input and
closed cases are clear 4xx."""

from __future__ import annotations

import uuid

import pytest

from psp_common import topics
from psp_common.events.status import OutreachStatus
from psp_matching.domain.errors import NotEligible
from psp_matching.domain.matcher import ASSIGNED, assign
from tests.matching.conftest import Service
from tests.matching.factories import POLICY, case, facts, person, supporter
from tests.matching.test_backup_acknowledged import acknowledged, deliver
from tests.matching.test_handlers import handle, published, register, request


def test_the_cap_and_contact_hours_are_waived_and_said_so() -> None:
    capped = supporter(monthly_cap=1)
    result = assign(case(), capped, facts(month_counts={capped.ref: 1}), POLICY)
    assert result.primary is not None and result.primary.ref == capped.ref and result.backups == ()
    assert result.primary.reasons[:2] == (ASSIGNED, "monthly assignment cap reached (waived)")


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        (supporter(paused=True), "inactive or stepped away"),
        (supporter(evaluates=frozenset({"ps_person"})), "evaluates or supervises a supported person"),
        (supporter(ref="ps_person"), "involved in the same event"),
        (supporter(seniority_level=1), "less senior than a supported person"),
        (supporter(mental_health_credentials=False), "no mental-health credentials (tier 3)"),
    ],
)
def test_safety_constraints_are_never_waived(who: object, reason: str) -> None:
    profile = case(tier=3, people=(person(seniority_level=4),))
    with pytest.raises(NotEligible) as err:
        assign(profile, who, facts(), POLICY)  # type: ignore[arg-type]
    assert reason in err.value.reason


async def test_a_named_supporter_becomes_primary_of_a_superseding_assignment(svc: Service) -> None:
    await register(svc, "S-1")
    await register(svc, "S-2", site="NORTH", max_assignments_per_month=0)  # at the cap: matching never picks them
    event = request(svc, ["E-1"])
    await handle(svc, event)
    [(_, first)] = await published(svc)
    assert first["primary"]["supporter_ref"] == svc.ref("S-1")
    r = await svc.client.post(f"/v1/cases/{event.case_id}:assign", json={"supporter_ref": svc.ref("S-2")})
    assert r.status_code == 200, r.text
    topic, msg = (await published(svc))[-1]
    assert topic == topics.SUPPORTER_MATCHED and msg["supersedes"] == first["assignment_id"]
    assert msg["primary"]["supporter_ref"] == svc.ref("S-2") and msg["backups"] == []
    assert msg["primary"]["reasons"][:2] == [ASSIGNED, "monthly assignment cap reached (waived)"]
    view = r.json()
    assert view["assignment_id"] == msg["assignment_id"] and "assigned a named supporter" in view["last_decision"]
    assert {a["assignment_id"]: a["status"] for a in view["assignments"]} == {
        msg["assignment_id"]: "active",
        first["assignment_id"]: "superseded",
    }


async def test_bad_choices_are_clear_4xx(svc: Service) -> None:
    await register(svc, "S-1")
    await register(svc, "S-AWAY")
    r = await svc.client.post("/v1/supporters/S-AWAY/pause")
    assert r.status_code == 200, r.text
    event = request(svc, ["E-1"])
    await handle(svc, event)
    url = f"/v1/cases/{event.case_id}:assign"
    away = await svc.client.post(url, json={"supporter_ref": svc.ref("S-AWAY")})
    assert away.status_code == 409 and away.json()["errors"][0] == {
        "field": "supporter_ref",
        "reason": "fails: inactive or stepped away",
    }
    unknown = await svc.client.post(url, json={"supporter_ref": "ps_0123abcd"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "supporter_ref"
    malformed = await svc.client.post(url, json={"supporter_ref": "Ana Ruiz"})
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "supporter_ref"
    nowhere = await svc.client.post(f"/v1/cases/{uuid.uuid4()}:assign", json={"supporter_ref": svc.ref("S-1")})
    assert nowhere.status_code == 404
    [(_, matched)] = await published(svc)
    await deliver(svc, acknowledged(matched, svc.ref("S-1"), status=OutreachStatus.CLOSED))
    closed = await svc.client.post(url, json={"supporter_ref": svc.ref("S-1")})
    assert closed.status_code == 409 and closed.json()["detail"] == "case is closed"
