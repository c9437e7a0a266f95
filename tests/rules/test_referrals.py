"""Referrals in the rules service (real SQLite unit of work): self-referral at the chosen urgency to the person,
third-party referrals by the facility's policy (reach_out -> the colleague, support_referrer -> the referrer),
opt-outs honoured only for someone who did not ask, resends decided once, the decision log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from psp_common.events.outreach import OutreachRequested
from psp_common.events.referral import ReferralObserved, ReferralPolicy
from psp_common.events.vocab import Urgency
from psp_common.migrations import upgrade_async
from psp_common.pseudonym import Pseudonymizer
from psp_common.runtime import Runtime
from psp_rules import handlers, referrals
from psp_rules.adapters.orm import decisions, metadata, outbox
from psp_rules.adapters.repository import ALL_SCOPE, OptOutRepository
from psp_rules.adapters.ruleset_schema import load_file
from psp_rules.bootstrap import MIGRATIONS
from psp_rules.settings import RulesSettings
from tests.rules.helpers import OCCURRED, observed, staff

CFG = handlers.RulesConfig.from_settings(RulesSettings(), load_file())
HANDLED = OCCURRED + timedelta(minutes=2)
PSEUDO = Pseudonymizer.from_settings(RulesSettings())
POLICIES = referrals.ReferralPolicies(ReferralPolicy.REACH_OUT, {"NORTH": ReferralPolicy.SUPPORT_REFERRER})


@pytest.fixture
async def rt(sqlite_url: str) -> AsyncIterator[Runtime]:
    await upgrade_async(MIGRATIONS, sqlite_url)
    runtime = Runtime(RulesSettings(database_url=sqlite_url), metadata, MIGRATIONS)
    yield runtime
    await runtime.engine.dispose()


def referral(kind: str = "colleague", urgency: Urgency = Urgency.WITHIN_HOURS, **over: Any) -> ReferralObserved:
    person, referrer = staff("E-200", "E-300")
    body: dict[str, Any] = {
        "occurred_at": OCCURRED,
        "correlation_id": uuid.uuid4(),
        "referral_ref": f"rf_{uuid.uuid4().hex}",
        "kind": kind,
        "facility": "GEN",
        "unit": "ICU",
        "urgency": urgency,
        "person": person,
        "referrer": None if kind == "self" else referrer,
        "person_agreed": kind == "eap",
    }
    body.update(over)
    return ReferralObserved.model_validate(body)


async def handle(rt: Runtime, event: ReferralObserved) -> handlers.Plan:
    async with rt.uow() as uow:
        (p,) = await referrals.on_referrals([event], uow, CFG, POLICIES, HANDLED)
        await uow.commit()
    return p


async def published(rt: Runtime) -> list[OutreachRequested]:
    async with rt.session() as s:
        rows = (await s.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars()
        return [OutreachRequested.model_validate_json(r) for r in rows]


@pytest.mark.parametrize("urgency", list(Urgency))
async def test_a_self_referral_reaches_the_person_at_the_urgency_they_chose(rt: Runtime, urgency: Urgency) -> None:
    await handle(rt, referral("self", urgency))
    [out] = await published(rt)
    assert out.urgency is urgency and out.mode.value == "individual"
    assert [p.pseudonym for p in out.people] == [PSEUDO.pseudonym("E-200")]
    assert [h.rule_id for h in out.rules_fired] == ["referral-self"]
    assert out.referral is not None and out.referral.kind.value == "self" and not out.referral.offer
    assert out.requested_at == HANDLED and out.occurred_at == OCCURRED


@pytest.mark.parametrize("kind", ["colleague", "manager"])
async def test_reach_out_offers_support_to_the_colleague(rt: Runtime, kind: str) -> None:
    await handle(rt, referral(kind))
    [out] = await published(rt)
    assert [p.pseudonym for p in out.people] == [PSEUDO.pseudonym("E-200")]
    assert [h.rule_id for h in out.rules_fired] == ["referral-reach-out"]
    assert out.referral is not None and out.referral.offer and out.referral.policy is ReferralPolicy.REACH_OUT
    assert not out.referral.contacts_referrer and out.urgency is Urgency.WITHIN_HOURS


@pytest.mark.parametrize("kind", ["colleague", "manager"])
async def test_support_referrer_contacts_the_referrer_instead(rt: Runtime, kind: str) -> None:
    await handle(rt, referral(kind, facility="NORTH"))
    [out] = await published(rt)
    assert [p.pseudonym for p in out.people] == [PSEUDO.pseudonym("E-300")]  # the referrer, never the colleague
    assert PSEUDO.pseudonym("E-200") not in out.model_dump_json()
    assert [h.rule_id for h in out.rules_fired] == ["referral-support-referrer"]
    assert out.referral is not None and out.referral.contacts_referrer and not out.referral.offer


async def test_an_eap_referral_offers_support_to_the_person_whatever_the_policy(rt: Runtime) -> None:
    await handle(rt, referral("eap", facility="NORTH", referrer=None))
    [out] = await published(rt)
    assert [p.pseudonym for p in out.people] == [PSEUDO.pseudonym("E-200")]
    assert out.referral is not None and out.referral.offer and out.referral.kind.value == "eap"


async def opt_out(rt: Runtime, staff_id: str) -> None:
    async with rt.uow() as uow:
        await OptOutRepository(uow.session).add(PSEUDO.pseudonym(staff_id), ALL_SCOPE, HANDLED)
        await uow.commit()


@pytest.mark.parametrize("kind", ["colleague", "manager"])
async def test_reach_out_to_an_opted_out_colleague_supports_the_referrer_instead(rt: Runtime, kind: str) -> None:
    await opt_out(rt, "E-200")
    offer = await handle(rt, referral(kind))
    [out] = await published(rt)
    assert [p.pseudonym for p in out.people] == [PSEUDO.pseudonym("E-300")]  # the referrer
    assert PSEUDO.pseudonym("E-200") not in out.model_dump_json()  # the colleague's wish is honoured
    [hit] = out.rules_fired
    assert hit.rule_id == "referral-opted-out-support-referrer"
    assert "referred person opted out of proactive outreach" in hit.text
    assert out.referral is not None and out.referral.policy is ReferralPolicy.SUPPORT_REFERRER
    assert out.referral.contacts_referrer and not out.referral.offer
    assert offer.decision.outcome == "outreach requested"
    async with rt.session() as s:
        [fired] = (await s.execute(select(decisions.c.fired))).scalars()
    assert fired == ["referral-opted-out-support-referrer"]  # recorded, so counted by rule


async def test_an_opted_out_colleague_referred_without_a_referrer_is_not_contacted(rt: Runtime) -> None:
    await opt_out(rt, "E-200")
    offer = await handle(rt, referral("colleague", referrer=None))
    assert offer.decision.outcome == "suppressed: opted out" and await published(rt) == []


async def test_an_opt_out_does_not_silence_a_self_referral(rt: Runtime) -> None:
    await opt_out(rt, "E-200")
    await handle(rt, referral("self", Urgency.IMMEDIATE))
    [out] = await published(rt)
    assert out.urgency is Urgency.IMMEDIATE and [p.pseudonym for p in out.people] == [PSEUDO.pseudonym("E-200")]


async def test_a_resent_referral_is_decided_once_and_logged(rt: Runtime) -> None:
    event = referral("self")
    await handle(rt, event)
    again = await handle(rt, ReferralObserved.model_validate({**event.model_dump(), "event_id": uuid.uuid4()}))
    assert again.decision.outcome.startswith("no change") and len(await published(rt)) == 1
    async with rt.session() as s:
        rows = (await s.execute(select(decisions.c.fired, decisions.c.ruleset_version))).all()
    assert [tuple(r) for r in rows] == [(["referral-self"], "referral:reach_out")] * 2  # decided, then a no-op


async def test_a_self_referral_of_someone_with_an_open_case_escalates_it_not_a_second_case(rt: Runtime) -> None:
    async with rt.uow() as uow:
        incident = observed(ids=("E-200",), harm_level="moderate", category="fall")
        await handlers.on_incidents([incident], uow, CFG, HANDLED)
        await uow.commit()
    before = await published(rt)
    await handle(rt, referral("self", Urgency.IMMEDIATE, occurred_at=OCCURRED + timedelta(hours=5)))
    after = await published(rt)
    [new] = after[len(before) :]
    assert len(before) == 1 and before[0].urgency is not Urgency.IMMEDIATE
    assert new.case_id == before[0].case_id  # merged into the person's open case, sooner now
    assert new.change == "escalated" and new.urgency is Urgency.IMMEDIATE and new.referral is None


async def test_a_referral_older_than_the_outreach_max_age_is_decided_but_not_paged(rt: Runtime) -> None:
    late = referral(
        "self", Urgency.IMMEDIATE, occurred_at=OCCURRED - timedelta(days=CFG.outreach_max_age_days or 30, hours=1)
    )
    p = await handle(rt, late)
    assert p.decision.outcome.startswith("not paged") and await published(rt) == []
