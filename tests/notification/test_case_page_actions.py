"""Actions on the supporter's case page: "I've reached them", log an encounter, hand back, close.

Authorized by the view token and the page's form token (CSRF); only the supporter who holds the case may act;
each action audited with the token redacted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from psp_notification import consumed
from psp_notification.adapters.encounters import EncounterRepository
from psp_notification.adapters.orm import assignments, audit_log
from psp_notification.domain.handback import NotHeld, NotTheHolder, check_may_hand_back
from psp_notification.domain.tokens import new_token
from tests.notification.support import Env, matched, path_of
from tests.notification.test_supporter_page import BEN, FORM, HTML, IDENTITY, acknowledged, listed, page_env

__all__ = ["page_env"]
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
ENCOUNTER: list[tuple[str, str]] = [("mode", "phone"), ("duration", "15-30m"), ("outcome", "support_given")]


async def taken(env: Env, primary: str = "ps_primary", **over: Any) -> tuple[str, str, str]:
    """Match a case, the primary takes it in a browser: (assignment id, case page path, its form token)."""
    event = matched(primary=primary, **over)
    await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
    await env.tick()
    case = await acknowledged(env, {k: path_of(v) for k, v in env.console.to(primary)[-1].links.items()})
    return str(event.assignment_id), case, await form_token(env, case)


async def form_token(env: Env, case: str) -> str:
    r = await env.client.get(case, headers=HTML)
    found = CSRF.findall(r.text)
    assert found and len(set(found)) == 1, "every form of the page carries the same form token"
    return str(found[0])


async def post(env: Env, case: str, action: str, csrf: str | None, fields: Sequence[tuple[str, str]] = ()) -> Any:
    data = ([("csrf", csrf)] if csrf is not None else []) + list(fields)
    return await env.client.post(case.replace("/case", f"/{action}"), content=urlencode(data).encode(), headers=FORM)


async def take_backup(env: Env, ref: str) -> tuple[str, str]:
    await env.tick()
    case = await acknowledged(env, {k: path_of(v) for k, v in env.console.to(ref)[-1].links.items()})
    return case, await form_token(env, case)


async def test_ive_reached_them_on_the_case_page_marks_the_case_contacted(page_env: Env) -> None:
    env = page_env
    _, case, csrf = await taken(env)
    r = await post(env, case, "contacted", csrf)
    assert r.status_code == 303 and r.headers["location"] == case
    assert ("contacted", "ps_primary") in await env.statuses()
    page = await env.client.get(case, headers=HTML)
    assert "Marked as reached" in page.text and "I&#39;ve reached them" not in page.text
    assert {p["purpose"] for p in await env.pages() if p["state"] == "pending"} == {"checkin"}


async def test_an_encounter_logged_on_the_case_page_is_stored_with_its_effects(page_env: Env) -> None:
    env = page_env
    aid, case, csrf = await taken(env)
    fields = [
        *ENCOUNTER,
        ("kind", "one_to_one"),
        ("referrals", "eap"),
        ("referrals", "professional_counselling"),
        ("follow_up_on", "2026-11-30"),
        ("debrief_wanted", "yes"),
        ("attendance", ""),
        ("occurred_at", ""),
    ]
    r = await post(env, case, "encounter", csrf, fields)
    assert r.status_code == 303, r.text
    async with env.c.runtime.session() as s:
        [stored] = await EncounterRepository(s).of_assignment(aid)
    e = stored.encounter
    assert (e.mode, e.duration, e.kind, e.outcome) == ("phone", "15-30m", "one_to_one", "support_given")
    assert (
        e.referrals == {"eap", "professional_counselling"} and e.debrief_wanted and str(e.follow_up_on) == "2026-11-30"
    )
    assert e.occurred_at == env.clock.now()  # empty "when": now
    statuses = await env.statuses()
    assert ("contacted", "ps_primary") in statuses and ("encounter_logged", None) in statuses
    purposes = {(p["recipient_ref"], p["purpose"]) for p in await env.pages() if p["state"] == "pending"}
    assert ("coordinator", "referral") in purposes and ("ps_primary", "checkin") in purposes


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ([("mode", "phone"), ("duration", "15-30m")], "outcome"),
        ([("mode", "carrier pigeon"), *ENCOUNTER[1:]], "mode"),
        ([*ENCOUNTER, ("mode", "video")], "mode"),  # a single choice given twice
        ([*ENCOUNTER, ("kind", "group")], "attendance"),
        ([*ENCOUNTER, ("occurred_at", "yesterday-ish")], "occurred_at"),
        ([*ENCOUNTER, ("occurred_at", "2026-11-23T10:30")], "occurred_at"),  # 15:30 UTC: after now (14:00)
        ([("mode", "phone"), ("duration", "15-30m"), ("outcome", "no_answer"), ("referrals", "crisis")], "referrals"),
    ],
)
async def test_an_encounter_that_does_not_fit_shows_the_form_again_naming_the_field(
    page_env: Env, fields: list[tuple[str, str]], field: str
) -> None:
    env = page_env
    aid, case, csrf = await taken(env)
    r = await post(env, case, "encounter", csrf, fields)
    assert r.status_code == 422
    assert f'Please check the field "{field}"' in r.text and 'action="encounter"' in r.text
    assert "Ana Ruiz" in r.text and "carrier pigeon" not in r.text  # the value is never echoed
    assert '<option value="15-30m" selected>' in r.text  # what was chosen is kept
    async with env.c.runtime.session() as s:
        assert await EncounterRepository(s).of_assignment(aid) == []


async def test_the_facilitator_of_a_group_case_logs_a_group_session_with_attendance(page_env: Env) -> None:
    env = page_env
    await listed(env, "ps_colleague2", BEN)
    aid, case, csrf = await taken(env, supported=("ps_colleague", "ps_colleague2"), mode="group")
    page = await env.client.get(case, headers=HTML)
    assert "Ana Ruiz" in page.text and "Ben Osei" in page.text
    assert '<option value="group" selected>' in page.text  # a group case defaults to a group session
    r = await post(env, case, "encounter", csrf, [*ENCOUNTER, ("kind", "group"), ("attendance", "6")])
    assert r.status_code == 303, r.text
    async with env.c.runtime.session() as s:
        [stored] = await EncounterRepository(s).of_assignment(aid)
    assert stored.encounter.kind == "group" and stored.encounter.attendance == 6


async def test_a_missing_or_foreign_form_token_is_refused_and_changes_nothing(page_env: Env) -> None:
    env = page_env
    _, case, csrf = await taken(env)
    _, other_case, other_csrf = await taken(env, primary="ps_other")
    before = await env.statuses()
    for action in ("contacted", "encounter", "hand-back", "close"):
        for token in (None, "", other_csrf, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
            r = await post(env, case, action, token, ENCOUNTER)
            assert r.status_code == 403, (action, token)
    api = await env.client.post(case.replace("/case", "/close"), content=urlencode({"csrf": "x"}).encode())
    assert api.status_code == 403 and api.json()["errors"][0]["field"] == "csrf"
    assert await env.statuses() == before
    assert (await post(env, other_case, "contacted", other_csrf)).status_code == 303  # its own token works


async def test_a_forged_or_another_supporters_view_token_cannot_act(page_env: Env) -> None:
    env = page_env
    _, case, csrf = await taken(env)
    view = case.split("/")[3]
    for token in (new_token(), view[:-1] + ("A" if view[-1] != "A" else "B")):
        r = await post(env, f"/v1/pages/{token}/case", "close", csrf)
        assert r.status_code == 403 and not any(s in r.text for s in IDENTITY)
    assert (await post(env, case, "hand-back", csrf)).status_code == 303
    backup_case, backup_csrf = await take_backup(env, "ps_backup1")
    before = await env.statuses()
    for action in ("contacted", "encounter", "hand-back", "close"):  # the first supporter no longer holds it
        r = await post(env, case, action, csrf, ENCOUNTER)
        assert r.status_code == 403, action
        assert (await post(env, backup_case, action, csrf, ENCOUNTER)).status_code == 403  # csrf of another page
    assert await env.statuses() == before
    assert (await post(env, backup_case, "close", backup_csrf)).status_code == 303


async def test_hand_back_pages_the_next_backup_then_the_coordinator_and_publishes_handed_back(page_env: Env) -> None:
    env = page_env
    _, case, csrf = await taken(env)
    assert (await post(env, case, "contacted", csrf)).status_code == 303
    assert (await post(env, case, "hand-back", csrf)).status_code == 303
    assert ("handed_back", "ps_primary") in await env.statuses()
    assert not [p for p in await env.pages() if p["state"] == "pending" and p["purpose"] == "checkin"]
    r = await env.client.get(case, headers=HTML)
    assert "you handed it back" in r.text and "<form" not in r.text and not any(s in r.text for s in IDENTITY)
    case1, csrf1 = await take_backup(env, "ps_backup1")
    r = await env.client.get(case, headers=HTML)
    assert "Another supporter has this case" in r.text and "<form" not in r.text
    assert (await post(env, case1, "hand-back", csrf1)).status_code == 303
    case2, csrf2 = await take_backup(env, "ps_backup2")
    assert not [p for p in await env.pages() if p["recipient_ref"] == "coordinator"]
    assert (await post(env, case2, "hand-back", csrf2)).status_code == 303  # nobody left: the coordinator
    statuses = await env.statuses()
    assert [s for s in statuses if s[0] == "handed_back"] == [
        ("handed_back", "ps_primary"),
        ("handed_back", "ps_backup1"),
        ("handed_back", "ps_backup2"),
    ]
    assert statuses[-1] == ("escalated", None)
    coordinator = [p for p in await env.pages() if p["recipient_ref"] == "coordinator"]
    assert [p["purpose"] for p in coordinator] == ["escalation"]


async def test_a_closed_case_page_says_closed_and_shows_no_forms(page_env: Env) -> None:
    env = page_env
    _, case, csrf = await taken(env)
    r = await post(env, case, "close", csrf)
    assert r.status_code == 303
    assert ("closed", "ps_primary") in await env.statuses()
    page = await env.client.get(case, headers=HTML)
    assert page.status_code == 200 and "This case is closed." in page.text
    assert "<form" not in page.text and not any(s in page.text for s in IDENTITY)
    for action in ("contacted", "encounter", "hand-back", "close"):
        assert (await post(env, case, action, csrf, ENCOUNTER)).status_code == 409, action
    assert not [p for p in await env.pages() if p["state"] == "pending"]


async def test_each_page_action_is_audited_with_the_supporter_and_the_token_redacted(page_env: Env) -> None:
    env = page_env
    _, case, csrf = await taken(env)
    await post(env, case, "contacted", csrf)
    await post(env, case, "encounter", csrf, ENCOUNTER)
    await post(env, case, "close", None)
    async with env.c.runtime.session() as s:
        rows = (await s.execute(select(audit_log).where(audit_log.c.action == "POST"))).all()
    actions = [(r.actor, r.resource, r.status) for r in rows if "/case" not in r.resource and "/ack" not in r.resource]
    assert actions == [
        ("page-link:ps_primary", "/v1/pages/{token}/contacted token=[redacted]", 303),
        ("page-link:ps_primary", "/v1/pages/{token}/encounter token=[redacted]", 303),
        ("anonymous", "/v1/pages/{token}/close token=[redacted]", 403),
    ]
    audit = str(rows)
    assert case.split("/")[3] not in audit and csrf not in audit


def test_the_hand_back_rule_lives_in_the_domain() -> None:
    check_may_hand_back("ps_a", "acknowledged", "ps_a")
    check_may_hand_back("ps_a", "contacted", "ps_a")
    with pytest.raises(NotTheHolder):
        check_may_hand_back("ps_a", "acknowledged", "ps_b")
    with pytest.raises(NotTheHolder):
        check_may_hand_back("ps_a", "paging", None)
    with pytest.raises(NotHeld):
        check_may_hand_back("ps_a", "closed", "ps_a")
    with pytest.raises(NotHeld):
        check_may_hand_back("ps_a", "escalated", "ps_a")


async def test_after_a_hand_back_the_next_holder_reaches_them_afresh_and_gets_the_check_ins(page_env: Env) -> None:
    env = page_env
    aid, case, csrf = await taken(env)
    assert (await post(env, case, "contacted", csrf)).status_code == 303
    first_contact = env.clock.now()
    env.clock.advance(minutes=30)
    assert (await post(env, case, "hand-back", csrf)).status_code == 303
    case1, csrf1 = await take_backup(env, "ps_backup1")
    page = await env.client.get(case1, headers=HTML)
    assert 'action="contacted"' in page.text and "Marked as reached" not in page.text  # not the first holder's
    env.clock.advance(minutes=10)
    r = await env.client.post(case1.replace("/case", "/contacted"), content=urlencode({"csrf": csrf1}).encode())
    assert r.status_code == 200 and r.json()["result"] == "contacted"
    pending = [(p["recipient_ref"], p["due_at"]) for p in await env.pages() if p["state"] == "pending"]
    reached = env.clock.now().replace(tzinfo=None)
    assert sorted(pending) == [
        ("ps_backup1", reached + timedelta(hours=24)),
        ("ps_backup1", reached + timedelta(hours=72)),
    ]
    assert [s for s in await env.statuses() if s[0] == "contacted"] == [
        ("contacted", "ps_primary"),
        ("contacted", "ps_backup1"),
    ]
    async with env.c.runtime.session() as s:
        row = (await s.execute(select(assignments).where(assignments.c.assignment_id == aid))).one()
    assert row.first_contacted_at.replace(tzinfo=None) == first_contact.replace(tzinfo=None)  # time to first contact
