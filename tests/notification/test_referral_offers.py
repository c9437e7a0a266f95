"""Referral offers: the person's answer is recorded from the encounter log; a declined offer closes the case
quietly (no check-ins, no escalation, nobody else paged) and is counted in /v1/stats; other cases are unchanged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from psp_common.events.outreach import OutreachRequested
from psp_common.events.referral import ReferralFacts, ReferralKind, ReferralPolicy
from psp_notification import consumed, handlers
from psp_notification.adapters.orm import assignments, cases, pages, status_log
from tests.notification.support import Env, matched
from tests.notification.test_access_and_retention import hdr
from tests.notification.test_feeds import requested

OFFER = ReferralFacts(kind=ReferralKind.COLLEAGUE, policy=ReferralPolicy.REACH_OUT, offer=True)
SELF = ReferralFacts(kind=ReferralKind.SELF, offer=False)


async def referral_case(env: Env, facts: ReferralFacts | None, supporter: str = "S-ANN") -> tuple[str, str]:
    """A requested (by a referral) + matched case its primary acknowledged; (case_id, assignment_id)."""
    base = requested(env.clock.now())
    req = OutreachRequested.model_validate({**base.model_dump(), "referral": facts})
    await env.handle(consumed.requested, req, env.clock.now())
    ref = env.c.pseudo.pseudonym(supporter)
    m = matched(primary=ref, case_id=req.case_id, correlation_id=req.correlation_id)
    await env.handle(consumed.matched, m, env.c.settings, env.clock.now())
    async with env.c.runtime.uow() as uow:
        taken = {"acknowledged_by": ref, "acknowledged_at": env.clock.now(), "state": "acknowledged"}
        await uow.session.execute(
            update(assignments).where(assignments.c.assignment_id == str(m.assignment_id)).values(**taken)
        )
        await uow.commit()
    return str(req.case_id), str(m.assignment_id)


async def encounter(env: Env, asg: str, outcome: str, supporter: str = "S-ANN") -> Any:
    body = {"occurred_at": env.clock.now().isoformat(), "mode": "phone", "duration": "<15m", "outcome": outcome}
    return await env.client.post(
        f"/v1/assignments/{asg}/encounters", json=body, headers=hdr(env, "supporter", staff_id=supporter)
    )


async def case_row(env: Env, case_id: str) -> Any:
    async with env.c.runtime.session() as s:
        return (await s.execute(select(cases.c.status, cases.c.offer).where(cases.c.case_id == case_id))).one()


async def test_a_declined_offer_closes_the_case_quietly(env: Env) -> None:
    case_id, asg = await referral_case(env, OFFER)
    assert (await case_row(env, case_id)).offer == "offered"
    env.clock.advance(minutes=20)
    r = await encounter(env, asg, "support_declined")
    assert r.status_code == 201, r.text
    assert tuple(await case_row(env, case_id)) == ("closed", "declined")
    async with env.c.runtime.session() as s:
        a = (await s.execute(select(assignments.c.state).where(assignments.c.assignment_id == asg))).scalar_one()
        due = await s.execute(select(pages.c.purpose).where(pages.c.case_id == case_id, pages.c.state == "pending"))
        closed = (await s.execute(select(status_log.c.detail).where(
            status_log.c.case_id == case_id, status_log.c.status == "closed"))).scalars().all()  # fmt: skip
    assert a == "closed" and list(due) == []  # no check-in reminder, nothing left to escalate
    assert closed == ["offer declined"]
    # The contact deadline passing changes nothing any more: no escalation of a declined offer.
    env.clock.advance(hours=env.c.settings.contact_deadline_hours + 1)
    async with env.c.runtime.uow() as uow:
        assert await handlers.escalate_overdue(uow, asg, env.clock.now()) is False


async def test_an_accepted_offer_stays_open_and_other_cases_are_unchanged(env: Env) -> None:
    offered, asg = await referral_case(env, OFFER)
    own, asg_self = await referral_case(env, SELF, "S-BOB")
    plain, asg_plain = await referral_case(env, None, "S-CAT")
    env.clock.advance(minutes=20)
    assert (await encounter(env, asg, "support_given")).status_code == 201
    assert (await encounter(env, asg_self, "support_declined", "S-BOB")).status_code == 201
    assert (await encounter(env, asg_plain, "support_declined", "S-CAT")).status_code == 201
    assert tuple(await case_row(env, offered)) == ("contacted", "accepted")
    assert tuple(await case_row(env, own)) == ("contacted", None)  # a self-referral is no offer
    assert tuple(await case_row(env, plain)) == ("contacted", None)


async def test_declined_offers_are_counted_in_stats(env: Env) -> None:
    env.c.settings.stats_min_cell = 1
    answers = ["support_declined", "support_declined", "support_given", None]
    for i, outcome in enumerate(answers):
        _, asg = await referral_case(env, OFFER, f"S-{i}")
        env.clock.advance(minutes=5)
        if outcome:
            assert (await encounter(env, asg, outcome, f"S-{i}")).status_code == 201
    await referral_case(env, SELF, "S-SELF")
    body = (await env.client.get("/v1/stats", headers=hdr(env, "analyst"))).json()
    assert body["by_offer"] == {"accepted": 1, "declined": 2, "offered": 1}
    env.c.settings.stats_min_cell = 5
    body = (await env.client.get("/v1/stats", headers=hdr(env, "analyst"))).json()
    assert body["by_offer"] == {"accepted": None, "declined": None, "offered": None}  # small cells suppressed
