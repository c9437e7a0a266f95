"""Referrals as the engine sees them: whom to reach, how soon, and why (pure Python).

Self-referral: the person, at the urgency they chose; they asked, so an opt-out of proactive outreach does not
silence them. Third party (colleague, manager): the facility's policy decides (seed 004): ``reach_out`` offers
support to the referred person (who may accept or decline; their opt-out is honoured), ``support_referrer``
contacts the referrer to help them help their colleague. A ``reach_out`` referral of a colleague who opted out of
proactive outreach switches to ``support_referrer`` (rule ``referral-opted-out-support-referrer``): the colleague is
not contacted, but the referrer who worried about them is not left alone either. EAP: the person agreed to be
referred, so a supporter reaches out to them (an offer they may still decline).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psp_rules.domain.engine import Evaluation
from psp_rules.domain.model import Hit, Incident, Person, Urgency

REACH_OUT = "reach_out"
SUPPORT_REFERRER = "support_referrer"
OPTED_OUT = "opted_out"  # reach_out switched to support_referrer: the referred person opted out
OPTED_OUT_REASON = "referred person opted out of proactive outreach"
SOURCE_KIND = "referral"  # Incident.source_kind / event_class of a referral's case
TIER = 2  # peer support
RULES = {
    "self": ("referral-self", "Self-referral: the person asked for support"),
    REACH_OUT: ("referral-reach-out", "Referred by a {kind}: offer support to the person (they may decline)"),
    SUPPORT_REFERRER: ("referral-support-referrer", "Referred by a {kind}: help the referrer support their colleague"),
    OPTED_OUT: (
        "referral-opted-out-support-referrer",
        "Referred by a {kind}; the person opted out of proactive outreach: help the referrer support their colleague",
    ),
    "eap": ("referral-eap", "EAP referral with the person's agreement: offer support (they may decline)"),
}
WHEN = {Urgency.IMMEDIATE: "now", Urgency.WITHIN_HOURS: "today", Urgency.WITHIN_DAYS: "this week"}


@dataclass(frozen=True)
class Referral:
    """One referral, pseudonymized."""

    referral_ref: str
    kind: str  # self, colleague, manager, eap
    facility: str
    unit: str
    occurred_at: datetime
    urgency: Urgency
    person: Person
    referrer: Person | None = None


@dataclass(frozen=True)
class ReferralPlan:
    """Whom to reach and why."""

    target: Person
    hit: Hit
    policy: str | None  # the third-party policy applied (None for self and EAP)
    offer: bool  # the person reached did not ask: they may decline
    contacts_referrer: bool
    honours_opt_out: bool  # the person reached did not ask themself

    def evaluation(self) -> Evaluation:
        """One hit, the chosen urgency, peer support, 1:1."""
        return Evaluation((self.hit,), self.hit.urgency, self.hit.tier, False)


def plan_referral(r: Referral, policy: str) -> ReferralPlan:
    """Apply the facility's third-party ``policy`` (reach_out or support_referrer) to a referral."""
    when = (f"asked for contact {WHEN[r.urgency]}",)
    if r.kind == "self":
        return ReferralPlan(r.person, _hit("self", r, when), None, False, False, False)
    if r.kind == "eap":
        return ReferralPlan(r.person, _hit("eap", r, when), None, True, False, True)
    if policy == SUPPORT_REFERRER and r.referrer is not None:
        return ReferralPlan(r.referrer, _hit(SUPPORT_REFERRER, r, when), SUPPORT_REFERRER, False, True, False)
    return ReferralPlan(r.person, _hit(REACH_OUT, r, when), REACH_OUT, True, False, True)


def switch_to_referrer(r: Referral, rp: ReferralPlan) -> ReferralPlan | None:
    """``reach_out`` to a person who opted out: contact the referrer instead (None when there is no referrer or
    ``rp`` is not a reach-out offer). The reason is recorded in the hit (decision log, OutreachRequested)."""
    if rp.policy != REACH_OUT or r.referrer is None:
        return None
    reasons = (*rp.hit.reasons, OPTED_OUT_REASON)
    return ReferralPlan(r.referrer, _hit(OPTED_OUT, r, reasons), SUPPORT_REFERRER, False, True, False)


def _hit(rule: str, r: Referral, reasons: tuple[str, ...]) -> Hit:
    rule_id, text = RULES[rule]
    return Hit(rule_id, text.format(kind=r.kind), reasons, r.urgency, TIER)


def as_incident(r: Referral, plan: ReferralPlan) -> Incident:
    """The referral as the engine's incident: one person (the one to reach), at the referral's time."""
    return Incident(
        incident_ref=r.referral_ref,
        report_version=1,
        facility=r.facility,
        unit=r.unit,
        source_kind=SOURCE_KIND,
        event_class=SOURCE_KIND,
        staff=(plan.target,),
        occurred_at=r.occurred_at,
        category=f"referral_{r.kind}",
    )
