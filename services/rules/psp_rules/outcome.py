"""What a decision produces beyond the cases: the OutreachRequested events and the decision log row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from psp_common.events.intake import IncidentObserved
from psp_common.events.outreach import IncidentFacts, OutreachRequested, RuleHit
from psp_common.events.referral import ReferralFacts
from psp_common.events.vocab import StaffRef
from psp_rules.adapters.repository import Member
from psp_rules.domain.engine import Action, ActionKind, Decision
from psp_rules.domain.model import Incident, RuleSet

CHANGE: dict[ActionKind, Any] = {
    ActionKind.OPEN: "opened",
    ActionKind.ESCALATE: "escalated",
    ActionKind.UPDATE: "updated",
}


@dataclass(frozen=True)
class Plan:
    """A decision and everything that led to it (what dry-run shows, what the consumer applies)."""

    incident: Incident
    ruleset: RuleSet
    decision: Decision
    fresh: bool = True  # a version newer than any decided for the incident (False: already decided)


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


@dataclass(frozen=True)
class Shared:
    """What every OutreachRequested of one decision carries alike, built once per decision (not per case)."""

    hits: tuple[RuleHit, ...]
    incident: IncidentFacts | None

    @classmethod
    def of(cls, event: Decided, p: Plan) -> Shared:
        """The rules that fired and, for an incident, its facts."""
        hits = tuple(RuleHit(rule_id=h.rule_id, text=h.explanation()) for h in p.decision.evaluation.hits)
        return cls(hits, IncidentFacts.of(event) if isinstance(event, IncidentObserved) else None)


@lru_cache(maxsize=4096)
def staff_ref(m: Member) -> StaffRef:
    """The bus's view of a case member (immutable, so shared by every event naming them)."""
    return StaffRef(
        pseudonym=m.pseudonym,
        key_id=m.key_id,
        role=m.role,
        involvement=m.involvement,
        aliases=m.aliases,  # type: ignore[arg-type]
    )


def outreach_event(
    event: Decided,
    p: Plan,
    action: Action,
    members: list[Member],
    now: datetime,
    referral: ReferralFacts | None = None,
    shared: Shared | None = None,
) -> OutreachRequested:
    """The OutreachRequested an action publishes, requested at the decision time ``now`` (matching judges shifts
    and workload then, not when the incident occurred: a report filed late goes to whoever is on shift now).
    ``shared``: ``Shared.of(event, p)``, when the decision publishes more than one."""
    shared = shared or Shared.of(event, p)
    return OutreachRequested(
        occurred_at=event.occurred_at,
        correlation_id=event.correlation_id,
        case_id=uuid.UUID(action.case_id),
        incident_ref=event.incident_ref,
        report_version=event.report_version,
        facility=event.facility,
        unit=event.unit,
        people=tuple(staff_ref(m) for m in members),
        rules_fired=shared.hits,
        urgency=action.urgency.value,  # type: ignore[arg-type]
        mode=action.mode.value,
        tier=action.tier,  # type: ignore[arg-type]
        ruleset_version=p.ruleset.version,
        change=CHANGE[action.kind],
        requested_at=now,
        referral=referral,
        incident=shared.incident,
    )


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
