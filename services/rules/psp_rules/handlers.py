"""Rules handlers: decide on one incident in a unit of work; rule set and opt-out commands."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events.intake import IncidentObserved
from psp_common.events.outreach import OutreachRequested, RuleHit
from psp_common.events.referral import ReferralFacts
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_common.events.vocab import StaffRef
from psp_rules import rotation
from psp_rules.adapters.facts import FactRepository
from psp_rules.adapters.repository import (
    CaseRepository,
    Member,
    OptOutRepository,
    RuleSetRepository,
    distinct_members,
)
from psp_rules.adapters.ruleset_schema import RuleSetDoc
from psp_rules.domain.engine import Action, ActionKind, Decision, decide, evaluate, overlay
from psp_rules.domain.model import Context, GroupPolicy, Incident, Person, RuleSet
from psp_rules.domain.paging import hold, not_paged_reason
from psp_rules.settings import RulesSettings
from psp_rules.triage import triage_event

log = logging.getLogger("psp.rules")
DEFAULT_SCOPE = "default"
CHANGE: dict[ActionKind, Any] = {
    ActionKind.OPEN: "opened",
    ActionKind.ESCALATE: "escalated",
    ActionKind.UPDATE: "updated",
}


@dataclass(frozen=True)
class RulesConfig:
    """Defaults the handlers fall back on: settings thresholds and the packaged default rule set."""

    group: GroupPolicy
    merge_window_hours: float
    default_doc: RuleSetDoc
    default_source: str = ""  # the packaged default's text, as the console shows it
    outreach_max_age_days: float | None = None  # older incidents are decided and counted, never paged
    cache: RuleSetCache = field(default_factory=lambda: RuleSetCache(), compare=False)

    @classmethod
    def from_settings(cls, settings: RulesSettings, default_doc: RuleSetDoc, default_source: str = "") -> RulesConfig:
        """Build from settings."""
        group = GroupPolicy(settings.group_staff_more_than, settings.group_units_at_least)
        return cls(group, settings.merge_window_hours, default_doc, default_source, settings.outreach_max_age_days)


@dataclass(frozen=True)
class Plan:
    """A decision and everything that led to it (what dry-run shows, what the consumer applies)."""

    incident: Incident
    ruleset: RuleSet
    decision: Decision
    fresh: bool = True  # a version newer than any decided for the incident (False: already decided)


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


class RuleSetCache:
    """Parsed rule sets by (scope, version): stored versions never change, so a version is parsed once."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, int], tuple[RuleSetDoc, RuleSet]] = {}

    async def get(self, repo: RuleSetRepository, scope: str, version: int) -> tuple[RuleSetDoc, RuleSet]:
        """The document and domain rule set of one stored version (read and validated on first use)."""
        key = (scope, version)
        if key not in self._parsed:
            stored = await repo.get(scope, version)
            if stored is None:
                raise LookupError(f"rule set {scope}:{version} vanished")
            doc = RuleSetDoc.model_validate(stored.document)
            if len(self._parsed) > 256:
                self._parsed.clear()
            self._parsed[key] = (doc, doc.to_domain(stored.label))
        return self._parsed[key]


async def effective_ruleset(
    repo: RuleSetRepository, facility: str, cfg: RulesConfig, *, seed: datetime | None
) -> RuleSet:
    """The facility override (on top of the default when it extends it) or the default rule set.

    With ``seed`` (the time to store it at) the packaged default is stored as version 1 when the database has
    none yet. One query per call finds the newest versions; parsed versions come from ``cfg.cache``.
    """
    scopes = (DEFAULT_SCOPE, facility) if facility != DEFAULT_SCOPE else (DEFAULT_SCOPE,)
    newest = await repo.newest(scopes)
    if DEFAULT_SCOPE in newest:
        default = (await cfg.cache.get(repo, DEFAULT_SCOPE, newest[DEFAULT_SCOPE]))[1]
    elif seed is not None:
        stored = await repo.add(
            DEFAULT_SCOPE, cfg.default_doc.model_dump(mode="json"), cfg.default_source or "packaged default", seed
        )
        default = cfg.default_doc.to_domain(stored.label)
    else:
        default = cfg.default_doc.to_domain(f"{DEFAULT_SCOPE}:packaged")
    if facility not in newest or facility == DEFAULT_SCOPE:
        return default
    odoc, mine = await cfg.cache.get(repo, facility, newest[facility])
    return overlay(default, mine, frozenset(odoc.disable)) if odoc.extends_default else mine


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
    cases = CaseRepository(uow_session)
    ruleset = rules or await effective_ruleset(RuleSetRepository(uow_session), event.facility, cfg, seed=seed)
    last_version, units = await cases.history(event.incident_ref)
    incident = to_incident(event, units)
    people = incident.people()
    names = rotation.lookup_names(people)  # current pseudonyms and aliases under previous keys
    ctx = Context(
        merge_window_hours=ruleset.merge_window_hours or cfg.merge_window_hours,
        opted_out=rotation.opted_out_now(await OptOutRepository(uow_session).opted_out(names, event.facility), people),
        open_cases=rotation.as_current(await cases.open_cases(names, event.incident_ref), people),
        last_version=last_version,
    )
    evaluation = evaluate(incident, ruleset, cfg.group)
    fresh = last_version is None or event.report_version > last_version
    return Plan(incident, ruleset, decide(incident, evaluation, ctx), fresh)


class Decided(Protocol):
    """What a decision's outcome needs from the event it was made on (an incident, or a referral's view)."""

    @property
    def occurred_at(self) -> datetime: ...
    @property
    def correlation_id(self) -> uuid.UUID: ...
    @property
    def event_id(self) -> uuid.UUID: ...
    @property
    def incident_ref(self) -> str: ...
    @property
    def report_version(self) -> int: ...
    @property
    def facility(self) -> str: ...
    @property
    def unit(self) -> str: ...


def outreach_event(
    event: Decided,
    p: Plan,
    action: Action,
    members: list[Member],
    now: datetime,
    referral: ReferralFacts | None = None,
) -> OutreachRequested:
    """The OutreachRequested an action publishes, requested at the decision time ``now`` (matching judges shifts
    and workload then, not when the incident occurred: a report filed late goes to whoever is on shift now)."""
    people = tuple(
        StaffRef(pseudonym=m.pseudonym, key_id=m.key_id, role=m.role, involvement=m.involvement, aliases=m.aliases)
        for m in members
    )  # type: ignore[arg-type]
    hits = tuple(RuleHit(rule_id=h.rule_id, text=h.explanation()) for h in p.decision.evaluation.hits)
    return OutreachRequested(
        occurred_at=event.occurred_at,
        correlation_id=event.correlation_id,
        case_id=uuid.UUID(action.case_id),
        incident_ref=event.incident_ref,
        report_version=event.report_version,
        facility=event.facility,
        unit=event.unit,
        people=people,
        rules_fired=hits,
        urgency=action.urgency.value,  # type: ignore[arg-type]
        mode=action.mode.value,
        tier=action.tier,  # type: ignore[arg-type]
        ruleset_version=p.ruleset.version,
        change=CHANGE[action.kind],
        requested_at=now,
        referral=referral,
    )


def _member_rows(case_id: str, names: tuple[str, ...], incident: Incident, how: str, now: datetime) -> list[dict]:
    """Member rows: joined (handled) at ``now``, for the incident that occurred at ``incident.occurred_at``."""
    by_name = {p.pseudonym: p for p in incident.people()}
    return [
        {
            "case_id": case_id,
            "pseudonym": n,
            "incident_ref": incident.incident_ref,
            "key_id": by_name[n].key_id,
            "role": by_name[n].role,
            "involvement": by_name[n].involvement,
            "aliases": list(by_name[n].aliases) or None,
            "how": how,
            "joined_at": now,
            "occurred_at": incident.occurred_at,
        }
        for n in names
    ]


async def on_incident(event: IncidentObserved, uow: UnitOfWork, cfg: RulesConfig, now: datetime) -> Plan:
    """Decide on one incident version (on its event time); persist cases, merges and the decision stamped with
    the handling time ``now``; queue the outreach events."""
    names = [n for s in event.staff for n in s.names()]  # current pseudonyms and aliases: every stored name
    await CaseRepository(uow.session).lock_people(names, event.incident_ref)  # before reading open cases
    p = await plan(event, uow.session, cfg, seed=now)
    held = not_paged_reason(event.historical, p.incident.occurred_at, now, cfg.outreach_max_age_days)
    if held is not None:  # decided and recorded (so counted), but no case and no outreach
        p = replace(p, decision=hold(p.decision, held))
    await rotation.relink(uow.session, p.incident.people(), now)
    published = await apply_plan(event, p, uow, now)
    if p.fresh:  # what the rules read, so a draft can be tried on history (what-if)
        await FactRepository(uow.session).add(p.incident, now)
    log.info(
        "decided %s v%d: %s (%d published, ruleset %s)",
        event.incident_ref,
        event.report_version,
        p.decision.outcome,
        published,
        p.ruleset.version,
    )
    return p


async def apply_plan(
    event: Decided, p: Plan, uow: UnitOfWork, now: datetime, referral: ReferralFacts | None = None
) -> int:
    """Persist a plan's cases and merges and its decision (stamped with the handling time ``now``); queue the
    outreach events; how many were queued."""
    cases = CaseRepository(uow.session)
    published = 0
    for action in p.decision.actions:
        if action.kind is ActionKind.TRIAGE:
            if isinstance(event, IncidentObserved):  # only incidents carry triage rules (referrals have their own)
                uow.publish(
                    topics.TRIAGE_REQUESTED, triage_event(event, p.decision.evaluation.triage, p.ruleset.version)
                )
                published += 1
            continue
        if action.kind is ActionKind.OPEN:
            await cases.open_case(
                {
                    "case_id": action.case_id,
                    "incident_ref": event.incident_ref,
                    "facility": event.facility,
                    "unit": event.unit,
                    "mode": action.mode.value,
                    "urgency": action.urgency.value,
                    "tier": action.tier,
                    "opened_at": now,
                    "updated_at": now,
                    "occurred_at": p.incident.occurred_at,
                }
            )
            opened = _member_rows(action.case_id, action.people, p.incident, "opened", now)
            await cases.add_members(opened)
        elif action.kind is ActionKind.MERGE:
            await cases.add_members(_member_rows(action.case_id, action.people, p.incident, "merged", now))
        elif action.kind in (ActionKind.ESCALATE, ActionKind.UPDATE):
            known = {m.pseudonym for m in await cases.members(action.case_id)}
            new = tuple(n for n in action.people if n not in known)
            await cases.add_members(_member_rows(action.case_id, new, p.incident, "added", now))
            await cases.raise_case(action.case_id, action.urgency.value, action.tier, now)
        if action.publish:
            if action.kind is ActionKind.OPEN:  # a new case holds exactly the rows just added
                members = distinct_members(opened)
            else:
                members = await cases.members(action.case_id)
            facts = referral if action.kind is ActionKind.OPEN else None  # an offer is a case of its own
            uow.publish(topics.OUTREACH_REQUESTED, outreach_event(event, p, action, members, now, facts))
            published += 1
    await cases.record(decision_row(event, p, now))
    return published


def decision_row(event: Decided, p: Plan, now: datetime) -> dict[str, Any]:
    """The decision log row."""
    d = p.decision
    return {
        "incident_ref": event.incident_ref,
        "report_version": event.report_version,
        "event_id": str(event.event_id),
        "facility": event.facility,
        "unit": event.unit,
        "ruleset_version": p.ruleset.version,
        "fired": [h.rule_id for h in d.evaluation.hits],
        "urgency": d.evaluation.urgency.value if d.evaluation.urgency else None,
        "tier": d.evaluation.tier or None,
        "mode": d.mode.value if d.evaluation.fired else None,
        "outcome": d.outcome[:300],
        "detail": [action_json(a) for a in d.actions],
        "decided_at": now,
    }


def action_json(a: Action) -> dict[str, Any]:
    """An action as JSON (pseudonyms only)."""
    return {
        "kind": a.kind.value,
        "case_id": a.case_id or None,
        "people": list(a.people),
        "mode": a.mode.value,
        "urgency": a.urgency.value,
        "tier": a.tier,
        "publishes": a.publish,
        "note": a.note,
    }


def status_is_relevant(event: OutreachStatusChanged) -> bool:
    """Only 'closed' changes anything here; other statuses are acknowledged without a transaction."""
    return event.status is OutreachStatus.CLOSED


async def on_status(event: OutreachStatusChanged, uow: UnitOfWork) -> None:
    """A closed outreach closes its case, so later incidents open a new one instead of merging.

    The case closes when the outreach closed (the event's ``occurred_at``), not when the event arrived: the
    retention clock starts there, so a replay or a lagging consumer purges on the same day.
    """
    if event.status is OutreachStatus.CLOSED:
        await CaseRepository(uow.session).close(str(event.case_id), event.occurred_at.astimezone(UTC))
