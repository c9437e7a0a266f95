"""Rules domain model: incidents, rules and rule sets as plain dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property


class Urgency(StrEnum):
    """How soon outreach should happen (values match the bus vocabulary)."""

    IMMEDIATE = "immediate"
    WITHIN_HOURS = "within_hours"
    WITHIN_DAYS = "within_days"

    @property
    def rank(self) -> int:
        """Higher is more urgent."""
        return _RANK[self]


_RANK = {Urgency.IMMEDIATE: 3, Urgency.WITHIN_HOURS: 2, Urgency.WITHIN_DAYS: 1}


class Route(StrEnum):
    """Where a rule sends an incident it fires on (``triage``: to the coordinator's queue instead of outreach)."""

    OUTREACH = "outreach"
    TRIAGE = "triage"
    BOTH = "outreach_and_triage"


class Mode(StrEnum):
    """One-to-one or group support."""

    INDIVIDUAL = "individual"
    GROUP = "group"


def most_urgent(values: list[Urgency]) -> Urgency:
    """The most urgent of ``values`` (at least one)."""
    return max(values, key=lambda u: u.rank)


@dataclass(frozen=True)
class Person:
    """A pseudonymized staff member."""

    pseudonym: str
    key_id: str
    role: str | None = None
    involvement: str = "primary"
    aliases: tuple[str, ...] = ()  # the same person under previous keys still active (key rotation)

    @property
    def names(self) -> tuple[str, ...]:
        """Every pseudonym this person may be stored under: the current one, then the aliases."""
        return (self.pseudonym, *self.aliases)


@dataclass(frozen=True)
class Incident:
    """What the rules look at: the pseudonymized facts of one report version (``occurred_at``: event time)."""

    incident_ref: str
    report_version: int
    facility: str
    unit: str
    source_kind: str
    event_class: str
    staff: tuple[Person, ...]
    occurred_at: datetime
    category: str | None = None
    harm_level: str | None = None
    patient_age_group: str | None = None
    huddle_call: str | None = None
    cis_flags: frozenset[str] = frozenset()
    other_units: frozenset[str] = frozenset()
    team_size: int | None = None
    triaged: bool = False  # dispatched by a coordinator from triage: triage rules act as outreach rules

    @property
    def head_count(self) -> int:
        """How many staff are affected: named staff, or the reported team size when larger."""
        return max(len(self.people()), self.team_size or 0)

    @property
    def units(self) -> frozenset[str]:
        """Every unit known to be involved."""
        return self.other_units | {self.unit}

    def people(self) -> tuple[Person, ...]:
        """Staff deduplicated by pseudonym, in report order."""
        seen: dict[str, Person] = {}
        for p in self.staff:
            seen.setdefault(p.pseudonym, p)
        return tuple(seen.values())


@dataclass(frozen=True)
class Conditions:
    """All given conditions must hold; each list matches when the incident has any of its values."""

    cis_flags_any: frozenset[str] = frozenset()
    harm_levels_any: frozenset[str] = frozenset()
    event_classes_any: frozenset[str] = frozenset()
    categories_any: frozenset[str] = frozenset()
    patient_age_groups_any: frozenset[str] = frozenset()
    source_kinds_any: frozenset[str] = frozenset()
    huddle_calls_any: frozenset[str] = frozenset()
    staff_more_than: int | None = None
    units_at_least: int | None = None

    def is_empty(self) -> bool:
        """A rule without conditions would fire on everything."""
        return self == Conditions()

    @cached_property
    def _checks(self) -> tuple[tuple[str, frozenset[str]], ...]:
        """The incident fields this rule reads (with the values it wants), in the order reasons name them."""
        fields = (
            ("cis_flags", self.cis_flags_any),
            ("harm_level", self.harm_levels_any),
            ("event_class", self.event_classes_any),
            ("category", self.categories_any),
            ("patient_age_group", self.patient_age_groups_any),
            ("source_kind", self.source_kinds_any),
            ("huddle_call", self.huddle_calls_any),
        )
        return tuple((name, wanted) for name, wanted in fields if wanted)

    def match(self, incident: Incident) -> tuple[str, ...] | None:
        """The reasons it matches, or None when any condition fails."""
        reasons: list[str] = []
        for name, wanted in self._checks:
            have = getattr(incident, name)
            common = sorted(wanted & have) if name == "cis_flags" else ([have] if have in wanted else [])
            if not common:
                return None
            reasons.append(f"{name}={','.join(common)}")
        if self.staff_more_than is not None:
            n = incident.head_count
            if n <= self.staff_more_than:
                return None
            reasons.append(f"{n} staff > {self.staff_more_than}")
        if self.units_at_least is not None:
            n = len(incident.units)
            if n < self.units_at_least:
                return None
            reasons.append(f"{n} units >= {self.units_at_least}")
        return tuple(reasons)


@dataclass(frozen=True)
class Rule:
    """One trigger: when its conditions hold, the people involved should be offered support."""

    id: str
    text: str
    when: Conditions
    urgency: Urgency
    tier: int
    mode: Mode | None = None
    modifier: bool = False
    route: Route = Route.OUTREACH

    def routes_to_triage(self, incident: Incident) -> bool:
        """Whether firing on ``incident`` asks the coordinator (never for an incident a coordinator dispatched)."""
        return self.route is not Route.OUTREACH and not incident.triaged

    def requests_outreach(self, incident: Incident) -> bool:
        """Whether firing on ``incident`` counts toward outreach (a triage rule only once a coordinator decided)."""
        return self.route is not Route.TRIAGE or incident.triaged


@dataclass(frozen=True)
class GroupPolicy:
    """When many people or units are involved, support the team as a group (one case)."""

    staff_more_than: int
    units_at_least: int
    rule_id: str = "group-intervention"
    text: str = "Many staff or several units affected: offer a group intervention"


@dataclass(frozen=True)
class RuleSet:
    """A versioned, validated set of rules."""

    version: str
    rules: tuple[Rule, ...]
    group: GroupPolicy | None = None
    merge_window_hours: float | None = None


@dataclass(frozen=True)
class Hit:
    """A rule that fired and why."""

    rule_id: str
    text: str
    reasons: tuple[str, ...]
    urgency: Urgency
    tier: int

    def explanation(self) -> str:
        """Human text plus the facts that made it fire."""
        return f"{self.text} ({'; '.join(self.reasons)})" if self.reasons else self.text


@dataclass(frozen=True)
class OpenCase:
    """An open outreach case as the engine needs to see it.

    ``occurred`` holds, per person, when the incidents that brought them into the case occurred (event time,
    never when they were handled), so the merge window decides the same on a replay as it did live.
    """

    case_id: str
    incident_ref: str
    mode: Mode
    urgency: Urgency
    tier: int
    people: tuple[str, ...]
    occurred: Mapping[str, tuple[datetime, ...]] = field(default_factory=dict)
    incidents: frozenset[str] = frozenset()

    def covers(self, incident_ref: str) -> bool:
        """Whether this case already answers ``incident_ref`` (its own incident or a merged one)."""
        return incident_ref == self.incident_ref or incident_ref in self.incidents

    def nearest(self, pseudonym: str, occurred_at: datetime) -> timedelta | None:
        """Shortest time between ``occurred_at`` and an incident of ``pseudonym`` in this case, either way."""
        gaps = [abs(occurred_at - t) for t in self.occurred.get(pseudonym, ())]
        return min(gaps) if gaps else None


@dataclass(frozen=True)
class Context:
    """What the engine knows beyond the incident: opt-outs, open cases, prior decisions (no wall clock: every
    time rule compares event times)."""

    merge_window_hours: float
    opted_out: frozenset[str] = frozenset()
    open_cases: tuple[OpenCase, ...] = ()
    last_version: int | None = None
