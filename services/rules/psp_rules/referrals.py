"""Rules handler for referrals: whom to reach (the facility's third-party policy), then the normal path (cases,
merges, the decision log, OutreachRequested through the outbox) in the same unit of work."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from psp_common.db import UnitOfWork
from psp_common.events.referral import ReferralFacts, ReferralKind, ReferralObserved, ReferralPolicy
from psp_common.events.vocab import StaffRef
from psp_rules.adapters.repository import CaseRepository
from psp_rules.casebook import CaseBook
from psp_rules.domain.engine import decide
from psp_rules.domain.model import Context, Person, RuleSet, Urgency
from psp_rules.domain.paging import hold, not_paged_reason
from psp_rules.domain.referrals import Referral, ReferralPlan, as_incident, plan_referral, switch_to_referrer
from psp_rules.handlers import Plan, RulesConfig, apply_plan

log = logging.getLogger("psp.rules.referrals")


@dataclass(frozen=True)
class ReferralPolicies:
    """The third-party policy of each facility (``PSP_REFERRAL_POLICIES``), else ``PSP_REFERRAL_POLICY``."""

    default: ReferralPolicy = ReferralPolicy.REACH_OUT
    facilities: dict[str, ReferralPolicy] = field(default_factory=dict)

    def of(self, facility: str) -> ReferralPolicy:
        """The policy that applies at ``facility``."""
        return self.facilities.get(facility, self.default)


@dataclass(frozen=True)
class ReferralSource:
    """The referral as the decision log and OutreachRequested name their source (``incident_ref``: the referral)."""

    occurred_at: datetime
    correlation_id: uuid.UUID
    event_id: uuid.UUID
    incident_ref: str
    facility: str
    unit: str
    report_version: int = 1


def _person(s: StaffRef) -> Person:
    return Person(s.pseudonym, s.key_id, s.role, s.involvement.value, s.aliases)


def to_referral(event: ReferralObserved) -> Referral:
    """The bus event as the domain sees it."""
    return Referral(
        referral_ref=event.referral_ref,
        kind=event.kind.value,
        facility=event.facility,
        unit=event.unit,
        occurred_at=event.occurred_at.astimezone(UTC),
        urgency=Urgency(event.urgency.value),
        person=_person(event.person),
        referrer=_person(event.referrer) if event.referrer else None,
    )


def facts(event: ReferralObserved, rp: ReferralPlan) -> ReferralFacts:
    """What OutreachRequested says about the referral."""
    policy = ReferralPolicy(rp.policy) if rp.policy else None
    return ReferralFacts(kind=event.kind, policy=policy, offer=rp.offer, contacts_referrer=rp.contacts_referrer)


def decide_in(
    book: CaseBook, event: ReferralObserved, cfg: RulesConfig, policy: ReferralPolicy
) -> tuple[Plan, ReferralPlan]:
    """Decide on the referral's time: whom to reach, then opt-outs (only of someone who did not ask; a reach-out
    offer to someone who opted out goes to the referrer instead), open cases (a person with an open case within the
    merge window is merged into it, escalated when sooner) and resends."""
    referral = to_referral(event)
    rp = plan_referral(referral, policy.value)
    opted_out = book.opted_out((rp.target,), event.facility) if rp.honours_opt_out else frozenset()
    switched = switch_to_referrer(referral, rp) if opted_out else None
    if switched is not None:
        rp, opted_out = switched, frozenset()
    incident = as_incident(referral, rp)
    last_version, _ = book.history(incident.incident_ref)
    ctx = Context(
        merge_window_hours=cfg.merge_window_hours,
        opted_out=opted_out,
        open_cases=book.open_cases(incident.people(), incident.incident_ref),
        last_version=last_version,
    )
    ruleset = RuleSet(version=f"referral:{policy.value}", rules=())
    return Plan(incident, ruleset, decide(incident, rp.evaluation(), ctx)), rp


def _names(event: ReferralObserved) -> list[str]:
    return [n for s in (event.person, event.referrer) if s is not None for n in s.names()]


async def on_referrals(
    events: Sequence[ReferralObserved], uow: UnitOfWork, cfg: RulesConfig, policies: ReferralPolicies, now: datetime
) -> list[Plan]:
    """Decide on referrals in order and apply them like incidents' decisions (cases, decision log, outbox): one
    query per table read, one statement per table written."""
    names = list(dict.fromkeys(n for e in events for n in _names(e)))
    refs = [e.referral_ref for e in events]
    await CaseRepository(uow.session).lock_people(names, refs)
    book = await CaseBook.load(uow.session, names, refs, [e.facility for e in events])
    plans = []
    for event in events:
        policy = policies.of(event.facility) if event.kind is not ReferralKind.SELF else policies.default
        p, rp = decide_in(book, event, cfg, policy)
        held = not_paged_reason(False, p.incident.occurred_at, now, cfg.outreach_max_age_days)
        if held is not None:  # a referral made longer ago than the outreach max age: decided and counted, not paged
            p = replace(p, decision=hold(p.decision, held))
        book.relink(p.incident.people())
        source = ReferralSource(
            event.occurred_at, event.correlation_id, event.event_id, event.referral_ref, event.facility, event.unit
        )
        published = apply_plan(book, source, p, uow, now, facts(event, rp))
        log.info("decided referral %s (%s): %s (%d published)", event.referral_ref, event.kind.value,
                 p.decision.outcome, published)  # fmt: skip
        plans.append(p)
    await book.flush(uow.session, now)
    return plans
