"""Encounter log: who may log, no free text, counts-only status, tier-3/crisis page, follow-up check-in, states."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from psp_common.docs import documents
from psp_notification.adapters.orm import assignments, encounters
from psp_notification.domain.encounters import (
    Actor,
    DurationBand,
    Encounter,
    InvalidEncounter,
    Kind,
    Mode,
    NotLoggable,
    NotYours,
    Outcome,
    Referral,
    check_may_log,
)
from tests.notification.support import T0, Env
from tests.notification.test_access_and_retention import hdr, open_case


def body(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "occurred_at": (T0 + timedelta(minutes=30)).isoformat(),
        "mode": "phone",
        "duration": "15-30m",
        "outcome": "support_given",
    }
    values.update(over)
    return values


async def table(env: Env, t: Any) -> list[dict[str, Any]]:
    async with env.c.runtime.session() as s:
        return [dict(r._mapping) for r in (await s.execute(select(t))).all()]


async def test_supporter_who_acknowledged_logs_an_encounter_with_a_counts_only_status(env: Env) -> None:
    case_id, asg = await open_case(env, "S-ANN")
    env.clock.advance(minutes=45)
    ann = hdr(env, "supporter", staff_id="S-ANN")
    sent = body(kind="group", attendance=6, referrals=["eap", "spiritual_care"], debrief_wanted=True)
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=sent, headers=ann)
    assert r.status_code == 201 and r.json() == {"number": 1}
    [row] = await table(env, encounters)
    assert row["case_id"] == case_id and row["attendance"] == 6 and row["referrals"] == ["eap", "spiritual_care"]
    assert row["mode"] == "phone" and row["duration"] == "15-30m" and row["debrief_wanted"] is True
    # first contact: the assignment becomes contacted at the encounter's time, 'contacted' then 'encounter_logged'
    [a] = await table(env, assignments)
    assert a["state"] == "contacted" and a["contacted_at"].replace(tzinfo=UTC) == T0 + timedelta(minutes=30)
    published = await env.published()
    assert [e["status"] for e in published][-2:] == ["contacted", "encounter_logged"]
    logged = published[-1]
    assert logged["encounter"] == {"number": 1, "referrals": 2, "follow_up": False}
    assert logged["supporter_ref"] is None and logged["detail"] == "encounter 1"
    text = str(logged)
    assert "eap" not in text and "spiritual" not in text and "phone" not in text and "S-ANN" not in text
    r = await env.client.get(f"/v1/assignments/{asg}/encounters", headers=ann)
    [item] = r.json()["items"]
    assert item["number"] == 1 and item["kind"] == "group" and item["referrals"] == ["eap", "spiritual_care"]
    # a second encounter is number 2; the case stays contacted (encounter_logged does not move the case status)
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(), headers=ann)
    assert r.json() == {"number": 2}
    assert (await env.client.get(f"/v1/cases/{case_id}/status", headers=ann)).json()["status"] == "contacted"


async def test_another_supporters_token_gets_404_and_an_analyst_403(env: Env) -> None:
    _, asg = await open_case(env, "S-ANN")
    env.clock.advance(minutes=45)
    bob = hdr(env, "supporter", staff_id="S-BOB")
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(), headers=bob)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "assignment_id"
    assert (await env.client.get(f"/v1/assignments/{asg}/encounters", headers=bob)).status_code == 404
    path = f"/v1/assignments/{asg}/encounters"
    assert (await env.client.post(path, json=body(), headers=hdr(env, "supporter"))).status_code == 404  # no claim
    assert (await env.client.post(path, json=body(), headers=hdr(env, "analyst"))).status_code == 403
    assert await table(env, encounters) == []
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(), headers=hdr(env, "coordinator"))
    assert r.status_code == 201


async def test_free_text_field_is_a_422_naming_the_field_without_echoing_it(env: Env) -> None:
    _, asg = await open_case(env, "S-ANN")
    env.clock.advance(minutes=45)
    ann = hdr(env, "supporter", staff_id="S-ANN")
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(notes="Dr Smith cried"), headers=ann)
    assert r.status_code == 422
    # the unknown key is sender input too (it could be a name): the project names it "<extra field>"
    assert r.json()["errors"] == [{"field": "<extra field>", "reason": "Extra inputs are not permitted"}]
    assert "Smith" not in r.text and "notes" not in r.text
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(outcome="felt better"), headers=ann)
    assert r.status_code == 422 and any(e["field"].endswith("outcome") for e in r.json()["errors"])
    assert await table(env, encounters) == []


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"kind": "group"}, "attendance"),
        ({"attendance": 3}, "attendance"),
        ({"occurred_at": (T0 + timedelta(hours=2)).isoformat()}, "occurred_at"),
        ({"occurred_at": (T0 - timedelta(hours=1)).isoformat()}, "occurred_at"),
        ({"follow_up_on": "2026-11-22"}, "follow_up_on"),
        ({"outcome": "no_answer", "referrals": ["eap"]}, "referrals"),
    ],
)
async def test_values_that_do_not_fit_are_a_422_naming_the_field(env: Env, over: dict[str, Any], field: str) -> None:
    _, asg = await open_case(env, "S-ANN")
    env.clock.advance(minutes=45)
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(**over))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field


async def test_tier3_referral_pages_the_coordinator_in_the_same_transaction(env: Env) -> None:
    case_id, asg = await open_case(env, "S-ANN")
    env.clock.advance(minutes=45)
    await env.tick()
    before = len(env.console.sent)
    ann = hdr(env, "supporter", staff_id="S-ANN")
    r = await env.client.post(
        f"/v1/assignments/{asg}/encounters", json=body(referrals=["professional_counselling"]), headers=ann
    )
    assert r.status_code == 201
    referral_pages = [p for p in await env.pages() if p["purpose"] == "referral"]
    assert [(p["recipient_ref"], p["state"], p["case_id"]) for p in referral_pages] == [
        ("coordinator", "pending", case_id)
    ]
    await env.tick()
    [message] = [m for m, _ in env.console.sent[before:] if m.purpose == "referral"]
    assert message.recipient_ref == "coordinator" and "tier-3/crisis referral" in message.text
    assert case_id in message.text and "counselling" not in message.text
    # an EAP referral pages nobody; a crisis referral in a later encounter pages again
    await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(referrals=["eap"]), headers=ann)
    await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(referrals=["crisis"]), headers=ann)
    assert len([p for p in await env.pages() if p["purpose"] == "referral"]) == 2


async def test_refused_encounter_pages_nobody_and_stores_nothing(env: Env) -> None:
    _, asg = await open_case(env, "S-ANN")
    env.clock.advance(minutes=45)
    bad = body(referrals=["crisis"], follow_up_on="2026-11-01")
    assert (await env.client.post(f"/v1/assignments/{asg}/encounters", json=bad)).status_code == 422
    assert [p for p in await env.pages() if p["purpose"] == "referral"] == []
    assert await table(env, encounters) == []
    assert "encounter_logged" not in [e["status"] for e in await env.published()]


async def test_follow_up_date_schedules_a_checkin_reminder_on_that_date(env: Env) -> None:
    _, asg = await open_case(env, "S-ANN")
    env.clock.advance(minutes=45)
    await env.tick()
    ann = hdr(env, "supporter", staff_id="S-ANN")
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(follow_up_on="2026-11-30"), headers=ann)
    assert r.status_code == 201
    assert (await env.published())[-1]["encounter"]["follow_up"] is True
    due = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 09:00 in Toronto (EST) on 30 November
    checkins = [p["due_at"].replace(tzinfo=UTC) for p in await env.pages() if p["purpose"] == "checkin"]
    assert due in checkins
    ref = env.c.pseudo.pseudonym("S-ANN")
    env.clock.advance(seconds=(due - env.clock.now()).total_seconds() - 60)
    await env.tick()
    reminders = [m for m, _ in env.console.sent if m.purpose == "checkin"]
    assert len(reminders) == 2  # the 24 h and 72 h check-ins after contact only
    env.clock.advance(seconds=61)
    await env.tick()
    reminders = [m for m, _ in env.console.sent if m.purpose == "checkin"]
    assert [m.recipient_ref for m in reminders] == [ref, ref, ref]


async def test_closed_or_unacknowledged_case_is_a_409(env: Env) -> None:
    _, asg = await open_case(env, "S-ANN")
    _, paging = await open_case(env, "S-BOB", ack=False)
    env.clock.advance(minutes=45)
    ann = hdr(env, "supporter", staff_id="S-ANN")
    assert (await env.client.post(f"/v1/assignments/{asg}/close", headers=ann)).status_code == 200
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=body(), headers=ann)
    assert r.status_code == 409 and r.json()["errors"][0] == {"field": "assignment_id", "reason": "the case is closed"}
    r = await env.client.post(f"/v1/assignments/{paging}/encounters", json=body())
    assert r.status_code == 409
    assert await table(env, encounters) == []


def test_the_logging_rule_lives_in_the_domain() -> None:
    ann = Actor(refs=frozenset({"ps_ann"}))
    coordinator = Actor(refs=frozenset(), coordinator=True)
    check_may_log(ann, "acknowledged", "ps_ann")
    check_may_log(ann, "contacted", "ps_ann")
    check_may_log(coordinator, "escalated", None)
    with pytest.raises(NotYours):
        check_may_log(Actor(refs=frozenset({"ps_bob"})), "acknowledged", "ps_ann")
    with pytest.raises(NotLoggable):
        check_may_log(ann, "closed", "ps_ann")
    with pytest.raises(NotLoggable):
        check_may_log(ann, "escalated", "ps_ann")
    one = Encounter(T0, Mode.VIDEO, DurationBand.OVER_60M, Kind.ONE_TO_ONE, Outcome.SUPPORT_GIVEN)
    assert one.validate(T0, T0) is one and not one.urgent_referral and one.people == 1
    crisis = Encounter(T0, Mode.VIDEO, DurationBand.OVER_60M, Kind.ONE_TO_ONE, Outcome.SUPPORT_GIVEN,
                       referrals=frozenset({Referral.CRISIS}))  # fmt: skip
    assert crisis.urgent_referral
    with pytest.raises(InvalidEncounter) as err:
        Encounter(T0, Mode.VIDEO, DurationBand.OVER_60M, Kind.ONE_TO_ONE, Outcome.SUPPORT_GIVEN,
                  follow_up_on=date(2028, 1, 1)).validate(T0, T0)  # fmt: skip
    assert err.value.field == "follow_up_on"


def test_status_stream_documents_encounter_logged_with_counts_only() -> None:
    schemas = documents("notification")["notification.asyncapi.json"]["components"]["schemas"]
    statuses = schemas["OutreachStatus"]["enum"]
    assert {"contacted", "encounter_logged", "handed_back", "closed"} <= set(statuses)
    counts = schemas["EncounterCounts"]
    assert set(counts["properties"]) == {"number", "referrals", "follow_up"}
    assert counts["properties"]["referrals"]["type"] == "integer"
    assert "encounter" in schemas["OutreachStatusChanged"]["properties"]
