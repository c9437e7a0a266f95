"""Rules handlers: decide on a consumed batch of incidents in one unit of work; case closures.

A batch is decided set-based: the rule sets, cases, opt-outs and history it needs are read with one query per
table (``CaseBook``), each incident is decided in memory in the order received (the next one sees what the
previous one changed, as if handled one after another), and the changes are written with one statement per
table. Decisions use event time; ``now`` (the handling time) only stamps what is recorded.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events.intake import IncidentObserved
from psp_common.events.referral import ReferralFacts
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_rules.adapters.repository import CaseRepository, RuleSetRepository
from psp_rules.casebook import CaseBook
from psp_rules.domain.engine import ActionKind, decide, evaluate
from psp_rules.domain.model import Context, Incident, Person, RuleSet
from psp_rules.domain.paging import hold, not_paged_reason
from psp_rules.outcome import CHANGE, Decided, Plan, Shared, action_json, decision_row, outreach_event
from psp_rules.ruleconfig import DEFAULT_SCOPE, RulesConfig, RuleSetCache, effective_ruleset, effective_rulesets
from psp_rules.triage import triage_event

__all__ = [
    "CHANGE", "DEFAULT_SCOPE", "Decided", "Plan", "RuleSetCache", "RulesConfig", "action_json", "apply_plan",
    "decision_row", "effective_ruleset", "effective_rulesets", "on_incidents", "on_statuses", "outreach_event",
    "plan", "status_is_relevant", "to_incident",
]  # fmt: skip

log = logging.getLogger("psp.rules")


def to_incident(event: IncidentObserved, other_units: frozenset[str] = frozenset()) -> Incident:
    """Map the bus event to the domain's view."""
    staff = tuple(Person(s.pseudonym, s.key_id, s.role, s.involvement.value, s.aliases) for s in event.staff)
    return Incident(
        incident_ref=event.incident_ref,
        report_version=event.report_version,
        facility=event.facility,
        unit=event.unit,
        source_kind=event.source_kind.value,
        event_class=event.event_class.value,
        staff=staff,
        occurred_at=event.occurred_at.astimezone(UTC),
        category=event.category,
        harm_level=event.harm_level.value if event.harm_level else None,
        patient_age_group=event.patient_age_group,
        huddle_call=event.huddle_call,
        cis_flags=frozenset(f.value for f in event.cis_flags),
        other_units=other_units,
        team_size=getattr(event, "team_size", None),  # optional intake field (huddle head count)
        triaged=event.triaged,
    )


def decide_in(book: CaseBook, event: IncidentObserved, ruleset: RuleSet, cfg: RulesConfig) -> Plan:
    """Evaluate ``ruleset`` and decide on event time, on what ``book`` holds now."""
    last_version, units = book.history(event.incident_ref)
    incident = to_incident(event, units)
    people = incident.people()
    ctx = Context(
        merge_window_hours=ruleset.merge_window_hours or cfg.merge_window_hours,
        opted_out=book.opted_out(people, event.facility),
        open_cases=book.open_cases(people, event.incident_ref),
        last_version=last_version,
    )
    evaluation = evaluate(incident, ruleset, cfg.group)
    fresh = last_version is None or event.report_version > last_version
    return Plan(incident, ruleset, decide(incident, evaluation, ctx), fresh)


def lookup_names(events: Sequence[IncidentObserved]) -> list[str]:
    """Every name (current pseudonym and aliases) of everyone in ``events``."""
    return list(dict.fromkeys(n for e in events for s in e.staff for n in s.names()))


async def plan(
    event: IncidentObserved,
    uow_session: AsyncSession,
    cfg: RulesConfig,
    *,
    seed: datetime | None,
    rules: RuleSet | None = None,
) -> Plan:
    """Evaluate the rules (``rules``, else the stored ones) and decide on event time, reading (never writing,
    unless ``seed``: the time to store the packaged default at) the database."""
    ruleset = rules or await effective_ruleset(RuleSetRepository(uow_session), event.facility, cfg, seed=seed)
    book = await CaseBook.load(uow_session, lookup_names([event]), [event.incident_ref], [event.facility])
    return decide_in(book, event, ruleset, cfg)


async def on_incidents(
    events: Sequence[IncidentObserved], uow: UnitOfWork, cfg: RulesConfig, now: datetime
) -> list[Plan]:
    """Decide on incident versions in order (each on its event time; one incident is a batch of one); persist
    cases, merges and the decisions stamped with the handling time ``now``; queue the outreach events. A constant
    number of statements."""
    session, refs = uow.session, [e.incident_ref for e in events]
    names = lookup_names(events)
    await CaseRepository(session).lock_people(names, refs)  # before reading open cases
    facilities = [e.facility for e in events]
    rulesets = await effective_rulesets(RuleSetRepository(session), facilities, cfg, seed=now)
    book = await CaseBook.load(session, names, refs, facilities)
    plans, published = [], 0
    for event in events:
        p = decide_in(book, event, rulesets[event.facility], cfg)
        held = not_paged_reason(event.historical, p.incident.occurred_at, now, cfg.outreach_max_age_days)
        if held is not None:  # decided and recorded (so counted), but no case and no outreach
            p = replace(p, decision=hold(p.decision, held))
        book.relink(p.incident.people())
        queued = apply_plan(book, event, p, uow, now)
        published += queued
        if p.fresh:  # what the rules read, so a draft can be tried on history (what-if)
            book.add_facts(p.incident, now)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "decided %s v%d: %s (%d published, ruleset %s)",
                event.incident_ref, event.report_version, p.decision.outcome, queued, p.ruleset.version,
            )  # fmt: skip
        plans.append(p)
    await book.flush(session, now)
    log.info("decided %d incident version(s): %s (%d published)", len(plans), summary(plans), published)
    return plans


def summary(plans: Sequence[Plan]) -> str:
    """How many decisions had each outcome, e.g. '3 outreach requested, 1 no rule fired'."""
    counts = Counter(p.decision.outcome for p in plans)
    return ", ".join(f"{n} {outcome}" for outcome, n in counts.most_common())


def apply_plan(
    book: CaseBook, event: Decided, p: Plan, uow: UnitOfWork, now: datetime, referral: ReferralFacts | None = None
) -> int:
    """Apply a plan's cases and merges to ``book`` and log its decision (stamped with the handling time ``now``);
    queue the outreach events; how many were queued."""
    published, shared = 0, None
    for action in p.decision.actions:
        if action.kind is ActionKind.TRIAGE:
            if isinstance(event, IncidentObserved):  # only incidents carry triage rules (referrals have their own)
                uow.publish(
                    topics.TRIAGE_REQUESTED, triage_event(event, p.decision.evaluation.triage, p.ruleset.version)
                )
                published += 1
            continue
        members = book.apply(event, p.incident, action, now)
        if members is not None:
            facts = referral if action.kind is ActionKind.OPEN else None  # an offer is a case of its own
            shared = shared or Shared.of(event, p)
            uow.publish(topics.OUTREACH_REQUESTED, outreach_event(event, p, action, members, now, facts, shared))
            published += 1
    book.record(decision_row(event, p, now))
    return published


def status_is_relevant(event: OutreachStatusChanged) -> bool:
    """Only 'closed' changes anything here; other statuses are acknowledged without a transaction."""
    return event.status is OutreachStatus.CLOSED


async def on_statuses(events: Sequence[OutreachStatusChanged], uow: UnitOfWork) -> None:
    """Closed outreaches close their cases (one statement), so later incidents open a new one instead of merging.

    A case closes when the outreach closed (the event's ``occurred_at``), not when the event arrived: the
    retention clock starts there, so a replay or a lagging consumer purges on the same day.
    """
    closes = [(str(e.case_id), e.occurred_at.astimezone(UTC)) for e in events if e.status is OutreachStatus.CLOSED]
    await CaseRepository(uow.session).close_many(closes)
