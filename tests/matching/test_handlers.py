"""The OutreachRequested handler on SQLite (one event: a batch of one): outbox contents, repeats, escalation,
unmatched, re-match; a consumed batch of several in one unit of work."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from psp_common import topics
from psp_common.events.outreach import OutreachRequested, RuleHit
from psp_common.events.vocab import StaffRef
from psp_matching.adapters.orm import outbox
from psp_matching.set_based import on_outreach_requested_many
from tests.matching.conftest import Service, body
from tests.matching.factories import NOW


def request(svc: Service, people: list[str], case_id: uuid.UUID | None = None, **over: Any) -> OutreachRequested:
    """An OutreachRequested for staff ids (pseudonymized as the rules service would)."""
    values: dict[str, Any] = {
        "occurred_at": NOW,
        "correlation_id": uuid.uuid4(),
        "case_id": case_id or uuid.uuid4(),
        "incident_ref": "ref_x",
        "report_version": 1,
        "facility": "GEN",
        "unit": "ICU",
        "people": tuple(StaffRef(pseudonym=svc.ref(p), key_id="k1", role="rn") for p in people),
        "rules_fired": (RuleHit(rule_id="death", text="patient death"),),
        "urgency": "within_hours",
        "mode": "individual",
        "tier": 2,
        "ruleset_version": "t",
        "requested_at": NOW,
    }
    values.update(over)
    return OutreachRequested(**values)


async def handle(svc: Service, event: OutreachRequested) -> None:
    async with svc.container.runtime.uow() as uow:
        await uow.claim(str(event.event_id), topics.OUTREACH_REQUESTED)
        await on_outreach_requested_many([event], uow, svc.container.deps)
        await uow.commit()


async def published(svc: Service) -> list[tuple[str, dict[str, Any]]]:
    async with svc.container.runtime.session() as s:
        rows = (await s.execute(select(outbox.c.topic, outbox.c.payload).order_by(outbox.c.id))).all()
    return [(t, json.loads(p)) for t, p in rows]


async def register(svc: Service, staff_id: str, **over: Any) -> None:
    r = await svc.client.post("/v1/supporters", json=body(staff_id, **over))
    assert r.status_code == 201, r.text


async def test_match_publishes_pseudonyms_and_coordinator_views(svc: Service) -> None:
    await register(svc, "S-1", site="NORTH")
    await register(svc, "S-2")
    await register(svc, "S-3", profession="rt", years_experience=20)  # ties with S-1: experience breaks it
    event = request(svc, ["E-1"])
    await handle(svc, event)
    [(topic, msg)] = await published(svc)
    assert topic == topics.SUPPORTER_MATCHED
    assert msg["primary"]["supporter_ref"] == svc.ref("S-2")
    assert "same site (GEN)" in msg["primary"]["reasons"]
    assert [b["supporter_ref"] for b in msg["backups"]] == [svc.ref("S-3"), svc.ref("S-1")]
    assert msg["supported"] == [svc.ref("E-1")] and msg["case_id"] == str(event.case_id)
    raw = json.dumps(msg)
    assert "S-1" not in raw and "S-2" not in raw and "E-1" not in raw and "Peer" not in raw
    case = (await svc.client.get(f"/v1/cases/{event.case_id}")).json()
    assert case["status"] == "matched" and case["assignment_id"] == msg["assignment_id"]
    cands = case["assignments"][0]["candidates"]
    assert cands[0] == {**cands[0], "role": "primary", "display_name": "Peer S-2"}
    listed = (await svc.client.get("/v1/assignments")).json()
    assert [a["assignment_id"] for a in listed] == [msg["assignment_id"]]
    assert (await svc.client.get(f"/v1/cases/{uuid.uuid4()}")).status_code == 404
    # The cap counts this case for S-2 (the roster view shows it).
    views = {s["staff_id"]: s["assignments_this_month"] for s in (await svc.client.get("/v1/supporters")).json()}
    assert views == {"S-1": 0, "S-2": 1, "S-3": 0}


async def test_repeat_is_ignored_unless_urgency_rises(svc: Service) -> None:
    await register(svc, "S-1")
    await register(svc, "S-2", years_experience=30)
    case_id = uuid.uuid4()
    await handle(svc, request(svc, ["E-1"], case_id))
    await handle(svc, request(svc, ["E-1"], case_id, report_version=2))  # amendment, same urgency
    assert len(await published(svc)) == 1
    await handle(svc, request(svc, ["E-1"], case_id, urgency="immediate"))
    first, second = [m for _, m in await published(svc)]
    assert second["urgency"] == "immediate" and second["assignment_id"] != first["assignment_id"]
    assert second["supersedes"] == first["assignment_id"]
    assert second["primary"]["supporter_ref"] == first["primary"]["supporter_ref"]  # continuity
    assert "already on this case" in second["primary"]["reasons"]
    statuses = sorted(a["status"] for a in (await svc.client.get("/v1/assignments")).json())
    assert statuses == ["active", "superseded"]
    # Escalating the same case does not use up a second slot of the monthly cap.
    views = {s["staff_id"]: s["assignments_this_month"] for s in (await svc.client.get("/v1/supporters")).json()}
    assert sorted(views.values()) == [0, 1]


async def test_unmatched_reasons_then_retry_when_roster_grows(svc: Service) -> None:
    await register(svc, "S-1", paused=True)
    await register(svc, "E-1")  # the involved clinician is also a supporter
    case_id = uuid.uuid4()
    await handle(svc, request(svc, ["E-1"], case_id))
    [(topic, msg)] = await published(svc)
    assert topic == topics.SUPPORTER_UNMATCHED
    assert msg["reasons"][0] == "eligible: 0 of 2 supporters"
    assert "available: 1 excluded (inactive or stepped away)" in msg["reasons"]
    assert "not_involved: 1 excluded (involved in the same event)" in msg["reasons"]
    await handle(svc, request(svc, ["E-1"], case_id))  # still nobody: no second alert
    assert len(await published(svc)) == 1
    await svc.client.post("/v1/supporters/S-1/resume")
    await handle(svc, request(svc, ["E-1"], case_id))
    topics_seen = [t for t, _ in await published(svc)]
    assert topics_seen == [topics.SUPPORTER_UNMATCHED, topics.SUPPORTER_MATCHED]


async def test_seniority_from_staff_directory_and_evaluator_exclusion(svc: Service) -> None:
    await register(svc, "S-JR", seniority_level=2)
    await register(svc, "S-EVAL", seniority_level=5, evaluates=["E-1"])
    await register(svc, "S-SR", seniority_level=5, site="NORTH")
    await svc.client.post("/v1/staff", json={"staff_id": "E-1", "profession": "physician", "seniority_level": 4})
    await handle(svc, request(svc, ["E-1"]))
    [(_, msg)] = await published(svc)
    assert msg["primary"]["supporter_ref"] == svc.ref("S-SR") and msg["backups"] == []


async def test_monthly_cap_across_cases(svc: Service) -> None:
    await register(svc, "S-1")
    for _ in range(2):
        await handle(svc, request(svc, [f"E-{uuid.uuid4().hex[:6]}"]))
    await handle(svc, request(svc, ["E-3"]))
    assert [t for t, _ in await published(svc)][-1] == topics.SUPPORTER_UNMATCHED
    assert any(r.startswith("monthly_cap: 1 excluded") for r in (await published(svc))[-1][1]["reasons"])


async def test_group_team_tier3_and_coordinator_rematch(svc: Service) -> None:
    await register(svc, "S-1", training={"group_facilitation": True, "mental_health_credentials": True})
    await register(
        svc, "S-2", profession="social_work", training={"group_facilitation": True, "mental_health_credentials": True}
    )
    await register(svc, "S-3", training={"group_facilitation": False, "mental_health_credentials": True})
    await register(svc, "S-4", training={"group_facilitation": True})
    event = request(svc, ["E-1", "E-2"], mode="group", tier=3)
    await handle(svc, event)
    [(_, msg)] = await published(svc)
    assert msg["primary"]["supporter_ref"] == svc.ref("S-1")
    assert [c["supporter_ref"] for c in msg["co_facilitators"]] == [svc.ref("S-2")]
    assert msg["backups"] == []
    r = await svc.client.post(f"/v1/cases/{event.case_id}:rematch", json={"discipline": "other"})
    assert r.status_code == 200, r.text
    assert r.json()["discipline"] == "other"
    _, again = (await published(svc))[-1]
    assert again["primary"]["supporter_ref"] == svc.ref("S-2") and again["supersedes"] == msg["assignment_id"]
    bad = await svc.client.post(f"/v1/cases/{event.case_id}:rematch", json={"discipline": "maybe"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "discipline"


async def test_continuity_with_a_supporter_already_supporting_the_person(svc: Service) -> None:
    await register(svc, "S-1")
    await register(svc, "S-2")
    await handle(svc, request(svc, ["E-1"]))
    first = (await published(svc))[0][1]["primary"]["supporter_ref"]
    await handle(svc, request(svc, ["E-1"]))  # a new case for the same person
    second = (await published(svc))[1][1]["primary"]
    assert second["supporter_ref"] == first and "already supporting this person" in second["reasons"]


async def test_amendment_raising_tier_rematches_and_never_de_escalates(svc: Service) -> None:
    await register(svc, "S-1", years_experience=30)
    await register(svc, "S-2", training={"mental_health_credentials": True})
    case_id = uuid.uuid4()
    await handle(svc, request(svc, ["E-1"], case_id, tier=2))
    assert (await published(svc))[0][1]["primary"]["supporter_ref"] == svc.ref("S-1")
    await handle(svc, request(svc, ["E-1"], case_id, tier=3))
    _, second = (await published(svc))[1]
    assert second["tier"] == 3 and second["primary"]["supporter_ref"] == svc.ref("S-2")
    await handle(svc, request(svc, ["E-1", "E-2"], case_id, tier=2, urgency="within_days"))
    _, third = (await published(svc))[2]
    assert third["tier"] == 3 and third["urgency"] == "within_hours"
    assert third["supported"] == sorted([svc.ref("E-1"), svc.ref("E-2")])


async def test_a_batch_reads_the_roster_once_and_a_roster_write_forgets_the_copy(svc: Service) -> None:
    from sqlalchemy import event as sa_event

    from psp_matching.adapters.roster import RosterRepository

    await register(svc, "S-1")
    await register(svc, "S-2")
    reads: list[str] = []
    statements: list[str] = []
    engine = svc.container.runtime.engine.sync_engine

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        statements.append(" ".join(statement.split()))
        if statement.lstrip().startswith("SELECT supporters.supporter_ref, supporters.staff_id"):
            reads.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        first, second = request(svc, ["E-1"]), request(svc, ["E-2"])
        async with svc.container.runtime.uow() as uow:  # one consumed batch = one unit of work
            await on_outreach_requested_many([first, second], uow, svc.container.deps)
            assert len(reads) == 1
            # New cases: no team to read and no assignment to supersede; the people come from the roster copy.
            assert not [q for q in statements if q.startswith("UPDATE assignments")]
            assert not [q for q in statements if "JOIN assignments" in q and "supported_people" not in q]
            assert not [q for q in statements if q.startswith("SELECT supporters.") and "WHERE" in q]
            roster = RosterRepository(uow.session)
            await roster.update(svc.ref("S-1"), {"paused": True})
            assert {s.ref: s.paused for s in await roster.roster()}[svc.ref("S-1")] is True
            assert len(reads) == 2
            await uow.commit()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert [t for t, _ in await published(svc)] == [topics.SUPPORTER_MATCHED] * 2


async def test_a_batch_counts_its_own_assignments_against_the_monthly_cap(svc: Service) -> None:
    from sqlalchemy import event as sa_event

    await register(svc, "S-1", max_assignments_per_month=1)
    await register(svc, "S-2", max_assignments_per_month=1)
    workload_reads: list[str] = []
    engine = svc.container.runtime.engine.sync_engine

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if "assignment_members.created_at >=" in statement:
            workload_reads.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        async with svc.container.runtime.uow() as uow:  # three new cases in one consumed batch
            events = [request(svc, [person]) for person in ("E-1", "E-2", "E-3")]
            await on_outreach_requested_many(events, uow, svc.container.deps)
            await uow.commit()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert workload_reads == []  # from the tallies, which each save keeps true in the same transaction
    out = await published(svc)
    assert [t for t, _ in out] == [topics.SUPPORTER_MATCHED, topics.SUPPORTER_MATCHED, topics.SUPPORTER_UNMATCHED]
    assert {m["primary"]["supporter_ref"] for _, m in out[:2]} == {svc.ref("S-1"), svc.ref("S-2")}
    assert any("cap" in r for r in out[2][1]["reasons"])
    case = (await svc.client.get(f"/v1/cases/{out[2][1]['case_id']}")).json()
    assert case["status"] == "unmatched"  # inserted once, with its outcome
