"""The case page per kind of contact (browser-free HTTP): an incident's outreach, a self-referral, a referral
offer (reach_out, EAP) and support_referrer each get their own approach script (per-facility override through
PSP_FACILITY_GUIDES ``scripts``); an offer's page has "They declined the offer" (CSRF), recorded like an encounter
with outcome support_declined: the case closes quietly and /v1/stats counts it in by_offer."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from psp_common.events.outreach import OutreachRequested
from psp_common.events.referral import ReferralFacts, ReferralKind, ReferralPolicy
from psp_notification import consumed
from psp_notification.adapters.encounters import EncounterRepository
from psp_notification.adapters.orm import cases, status_log
from tests.notification.support import Env, app_env
from tests.notification.test_access_and_retention import hdr
from tests.notification.test_case_page_actions import post, taken
from tests.notification.test_feeds import requested
from tests.notification.test_supporter_page import ANA, HTML, listed, page_env

__all__ = ["page_env"]
SELF = ReferralFacts(kind=ReferralKind.SELF, offer=False)
REACH_OUT = ReferralFacts(kind=ReferralKind.COLLEAGUE, policy=ReferralPolicy.REACH_OUT, offer=True)
EAP = ReferralFacts(kind=ReferralKind.EAP, offer=True)
REFERRER = ReferralFacts(
    kind=ReferralKind.MANAGER, policy=ReferralPolicy.SUPPORT_REFERRER, offer=False, contacts_referrer=True
)
# A phrase only each kind's script says (the built-in scripts).
SAYS = {
    "incident": "I heard things didn\u2019t go well",
    "self": "They asked for support themselves",
    "reach_out": "A colleague or manager was concerned about them",
    "eap": "Their EAP or occupational health counsellor referred them",
    "support_referrer": "the colleague is not contacted by the PSP",
}
DECLINE_BUTTON = "They declined the offer</button>"
DECLINED = [("mode", "phone"), ("duration", "<15m")]


async def referral_taken(
    env: Env, facts: ReferralFacts | None, primary: str = "ps_primary"
) -> tuple[str, str, str, str]:
    """A case requested (by a referral when ``facts``), matched and taken in a browser: (case id, assignment id,
    case page path, form token)."""
    base = requested(env.clock.now())
    req = OutreachRequested.model_validate({**base.model_dump(), "referral": facts})
    await env.handle(consumed.requested, req, env.clock.now())
    aid, case, csrf = await taken(env, primary, case_id=req.case_id, correlation_id=req.correlation_id)
    return str(req.case_id), aid, case, csrf


@pytest.mark.parametrize(
    ("facts", "kind"),
    [(None, "incident"), (SELF, "self"), (REACH_OUT, "reach_out"), (EAP, "eap"), (REFERRER, "support_referrer")],
)
async def test_the_case_page_shows_the_script_of_its_kind_of_contact(
    page_env: Env, facts: ReferralFacts | None, kind: str
) -> None:
    _, _, case, _ = await referral_taken(page_env, facts)
    page = (await page_env.client.get(case, headers=HTML)).text
    assert SAYS[kind] in page, kind
    assert [k for k, phrase in SAYS.items() if phrase in page] == [kind]  # no other kind's script
    assert f'data-approach="{kind}"' in page
    assert (DECLINE_BUTTON in page) == (kind in ("reach_out", "eap"))  # only an offer can be declined
    if kind == "reach_out":
        assert "Do not say who referred them" in page


async def test_they_declined_the_offer_closes_the_case_quietly_and_is_counted(page_env: Env) -> None:
    env = page_env
    env.c.settings.stats_min_cell = 1
    case_id, aid, case, csrf = await referral_taken(env, REACH_OUT)
    env.clock.advance(minutes=10)
    r = await post(env, case, "offer-declined", csrf, DECLINED)
    assert r.status_code == 303 and r.headers["location"] == case, r.text
    async with env.c.runtime.session() as s:
        row = (await s.execute(select(cases.c.status, cases.c.offer).where(cases.c.case_id == case_id))).one()
        closed = (await s.execute(select(status_log.c.detail).where(
            status_log.c.case_id == case_id, status_log.c.status == "closed"))).scalars().all()  # fmt: skip
        [stored] = await EncounterRepository(s).of_assignment(aid)
    assert tuple(row) == ("closed", "declined") and closed == ["offer declined"]
    e = stored.encounter
    assert (e.outcome, e.mode, e.duration, e.kind) == ("support_declined", "phone", "<15m", "one_to_one")
    assert e.occurred_at == env.clock.now()
    assert [p for p in await env.pages() if p["state"] == "pending"] == []  # no check-ins, nobody else paged
    assert "This case is closed." in (await env.client.get(case, headers=HTML)).text
    body = (await env.client.get("/v1/stats", headers=hdr(env, "analyst"))).json()
    assert body["by_offer"] == {"declined": 1}


async def test_declining_needs_the_page_form_and_an_open_offer(page_env: Env) -> None:
    env = page_env
    offer_id, _, offer_case, offer_csrf = await referral_taken(env, REACH_OUT)
    _, _, other_case, other_csrf = await referral_taken(env, None, primary="ps_other")
    _, _, self_case, self_csrf = await referral_taken(env, SELF, primary="ps_third")
    before = await env.statuses()
    for token in (None, "", other_csrf):
        assert (await post(env, offer_case, "offer-declined", token, DECLINED)).status_code == 403, token
    for case, csrf in ((other_case, other_csrf), (self_case, self_csrf)):  # no offer: nothing to decline
        r = await post(env, case, "offer-declined", csrf, DECLINED)
        assert r.status_code == 409, r.text
    r = await env.client.post(  # an API client learns the field
        other_case.replace("/case", "/offer-declined"), content=f"csrf={other_csrf}&mode=phone&duration=%3C15m".encode()
    )
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "offer"
    r = await post(env, offer_case, "offer-declined", offer_csrf, [("duration", "<15m")])  # how: required
    assert r.status_code == 422 and "mode" in r.text
    assert await env.statuses() == before
    async with env.c.runtime.session() as s:
        offer = (await s.execute(select(cases.c.offer).where(cases.c.case_id == offer_id))).scalar_one()
    assert offer == "offered"


async def test_a_facility_overrides_a_referral_script_and_keeps_the_others(sqlite_url: str) -> None:
    guide: dict[str, Any] = {
        "approach_script": ["GEN incident steps."],
        "scripts": {"self": ["GEN: they asked; call the PSP line first."]},
    }
    async with app_env(sqlite_url, facility_guides={"GEN": guide}) as env:
        await listed(env, "ps_colleague", ANA)
        _, _, own, _ = await referral_taken(env, SELF)
        page = (await env.client.get(own, headers=HTML)).text
        assert "GEN: they asked; call the PSP line first." in page and SAYS["self"] not in page
        _, _, offered, _ = await referral_taken(env, REACH_OUT, primary="ps_other")
        page = (await env.client.get(offered, headers=HTML)).text
        assert SAYS["reach_out"] in page and "GEN incident steps." not in page  # not overridden: built in
        _, _, incident, _ = await referral_taken(env, None, primary="ps_third")
        assert "GEN incident steps." in (await env.client.get(incident, headers=HTML)).text
    with pytest.raises(ValueError, match="scripts"):
        async with app_env(sqlite_url, facility_guides={"GEN": {**guide, "scripts": {"colleague": ["x"]}}}):
            pass
