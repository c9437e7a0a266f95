"""Replay: decide a history of incident versions in memory, the way the live service decides them, under one
rule set per facility. Pure: no I/O, no clock, no outbox; the caller streams the versions in.

What it keeps per replay mirrors the rules database: open cases with their people and the event times of the
incidents that brought each person in (the merge window compares event times, as live), the newest version and
the units decided per incident, and opt-outs. One simplification, the same for every rule set compared: a
simulated case never closes during the replay (closing is a human outcome of the outreach, which a replay of
other rules cannot know), so a person's incident merges into their case whenever it occurred within the merge
window of an incident already in that case.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from psp_rules.domain.engine import ActionKind, Decision, Evaluation, decide, evaluate
from psp_rules.domain.model import Context, GroupPolicy, Incident, Mode, OpenCase, Person, RuleSet, Urgency

ALL_SCOPE = "all"
# What rules read of a version: flags, harm, event class, category, age group, source kind, huddle call, head
# count, unit count
Facts = tuple[frozenset[str], str | None, str, str | None, str | None, str, str | None, int, int]


@dataclass(slots=True)
class SimCase:
    """A case the replay opened: who is in it and when their incidents occurred (joining order kept)."""

    case_id: str
    incident_ref: str
    report_version: int
    mode: Mode
    urgency: Urgency
    tier: int
    opened_by: frozenset[str]  # rule ids that fired on the version that opened it
    seq: int  # creation order (the order the database would list them in)
    occurred: dict[str, tuple[datetime, ...]] = field(default_factory=dict)
    incidents: frozenset[str] = frozenset()
    seen: OpenCase | None = None  # the engine's view, until the case changes

    def view(self) -> OpenCase:
        """The engine's view of it."""
        if self.seen is None:
            self.seen = self._view()
        return self.seen

    def _view(self) -> OpenCase:
        """Shares ``occurred`` rather than copying it: the view is dropped whenever the case changes."""
        people = tuple(self.occurred)
        return OpenCase(
            self.case_id, self.incident_ref, self.mode, self.urgency, self.tier, people, self.occurred, self.incidents
        )


@dataclass(frozen=True, slots=True)
class Version:
    """One stored incident version as every replay of the history sees it: with the units of the versions decided
    before it, the newest version decided before it, and the facts rules read (the key evaluations are shared by)."""

    incident: Incident
    last_version: int | None
    fresh: bool  # newer than every version of the incident decided before it (an older one changes nothing)
    aliases: bool  # someone in it also has a previous key's pseudonym
    facts: Facts
    facts_id: int  # the same for versions with the same facts


class History:
    """What does not depend on the rules, worked out once for all replays: per incident, the newest version and
    the units of the versions decided so far."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, frozenset[str]]] = {}
        self._facts: dict[Facts, int] = {}

    def next(self, incident: Incident) -> Version:
        """``incident`` (the next version in decision order) with what the history before it adds."""
        i, ref = incident, incident.incident_ref
        last_version, units = self._seen.get(ref, (None, frozenset()))
        if units:
            i = dataclasses.replace(incident, other_units=units)
        every_unit = units | {i.unit}
        fresh = last_version is None or i.report_version > last_version
        newest = i.report_version if last_version is None else max(i.report_version, last_version)
        self._seen[ref] = (newest, every_unit)
        facts: Facts = (
            i.cis_flags, i.harm_level, i.event_class, i.category, i.patient_age_group, i.source_kind, i.huddle_call,
            i.head_count, len(every_unit),
        )  # fmt: skip
        fid = self._facts.setdefault(facts, len(self._facts))
        return Version(i, last_version, fresh, any(p.aliases for p in i.staff), facts, fid)


@dataclass(frozen=True)
class Outcome:
    """What a rule set made of one incident version: rules fired, urgency, mode (None: nothing fired)."""

    fired: frozenset[str]
    urgency: Urgency | None
    mode: Mode | None


NOTHING = Outcome(frozenset(), None, None)


class Replay:
    """Decides incident versions one after another, carrying cases and history between them."""

    def __init__(self, group: GroupPolicy, merge_window_hours: float, opted_out: Mapping[str, frozenset[str]]) -> None:
        self.group, self.merge_window_hours, self.opted_out = group, merge_window_hours, opted_out
        self.cases: dict[str, SimCase] = {}
        self.outcomes: dict[tuple[str, int], Outcome] = {}
        self.last: dict[str, Outcome] = {}  # per incident: the outcome of its newest version
        self.versions_used: set[str] = set()
        self.facilities: set[str] = set()  # facilities whose versions it decided
        # person -> (event time as POSIX seconds, seq, case), sorted: which cases to show the engine (floats compare
        # faster than aware datetimes; the engine measures the merge window itself on the datetimes)
        self._times: dict[str, list[tuple[float, int, str]]] = {}
        self._by_ref: dict[str, set[str]] = {}
        self._by_facts: dict[int, dict[int, tuple[Evaluation, frozenset[str]]]] = {}
        self._memo: dict[tuple[object, ...], tuple[Evaluation, frozenset[str]]] = {}
        self._profiles: dict[int, _Profile] = {}
        self._fired_sets: Counter[frozenset[str]] = Counter()

    @property
    def rules_fired(self) -> Counter[str]:
        """Versions each rule fired on."""
        out: Counter[str] = Counter()
        for fired, n in self._fired_sets.items():
            for rule_id in fired:
                out[rule_id] += n
        return out

    def decide(self, version: Version, ruleset: RuleSet) -> None:
        """Decide one version as the live handler would, then apply what it opens, merges and raises. A version
        older than one already decided changes nothing (live: "no change"), nor does one that fires no rule."""
        if not version.fresh:
            return
        incident = version.incident
        if version.aliases:
            self._relink(incident.staff)
        evaluation, fired = self._evaluate(version, ruleset)
        if evaluation.fired:
            people = incident.people()
            hours = ruleset.merge_window_hours or self.merge_window_hours
            ctx = Context(
                merge_window_hours=hours,
                opted_out=self._opted_out(people, incident.facility),
                open_cases=self._open_cases(people, incident, hours * 3600.0),
                last_version=version.last_version,
            )
            decision = decide(incident, evaluation, ctx)
            self._apply(incident, decision, fired)
            outcome = Outcome(fired, evaluation.urgency, decision.mode)
        else:
            outcome = NOTHING
        self.outcomes[(incident.incident_ref, incident.report_version)] = self.last[incident.incident_ref] = outcome
        self._fired_sets[fired] += 1
        self.versions_used.add(ruleset.version)
        self.facilities.add(incident.facility)

    def _evaluate(self, version: Version, ruleset: RuleSet) -> tuple[Evaluation, frozenset[str]]:
        """``evaluate`` reads only a few facts, and each rule set only some of them: versions that agree on those
        share one evaluation (its hits' explanations may quote another version's head count; a replay never
        shows them, and which rules fire, urgency, tier and mode are the same). Looked up first by every fact
        read by any rule set, then by those this rule set reads."""
        memo = self._by_facts.get(id(ruleset))
        if memo is None:
            memo = self._by_facts[id(ruleset)] = {}
        found = memo.get(version.facts_id)
        if found is not None:
            return found
        profile = self._profiles.get(id(ruleset))
        if profile is None:
            profile = self._profiles[id(ruleset)] = _Profile.of(ruleset, ruleset.group or self.group)
        key = profile.key(version.facts)
        found = self._memo.get(key)
        if found is None:
            evaluation = evaluate(version.incident, ruleset, self.group)
            found = self._memo[key] = (evaluation, frozenset(h.rule_id for h in evaluation.hits))
        memo[version.facts_id] = found
        return found

    def _opted_out(self, people: tuple[Person, ...], facility: str) -> frozenset[str]:
        if not self.opted_out:
            return frozenset()
        wanted = {ALL_SCOPE, facility}
        return frozenset(
            p.pseudonym for p in people if any(wanted & self.opted_out.get(n, frozenset()) for n in p.names)
        )

    def _open_cases(self, people: tuple[Person, ...], incident: Incident, window: float) -> tuple[OpenCase, ...]:
        """The cases the engine can act on: those covering this incident, and those where one of its people has an
        incident within the merge window (the only other cases the engine merges into; live reads every open case
        of the people, and the engine discards the others)."""
        ids = set(self._by_ref.get(incident.incident_ref, ()))
        # a millisecond wider than the window: rounding can only add a case, which the engine then leaves out
        at, window = incident.occurred_at.timestamp(), window + 0.001
        first, last = (at - window,), (at + window, len(self.cases))  # every seq is below len(self.cases)
        for p in people:
            times = self._times.get(p.pseudonym)
            if times:
                lo, hi = bisect_left(times, first), bisect_right(times, last)
                if lo < hi:
                    ids.update(cid for _, _, cid in times[lo:hi])
        return tuple(c.view() for c in sorted((self.cases[i] for i in ids), key=lambda c: c.seq))

    def _relink(self, staff: tuple[Person, ...]) -> None:
        """Cases holding someone under a previous key's pseudonym hold them under the current one (live: relink)."""
        for p in staff:
            for alias in p.aliases:
                entries = self._times.pop(alias, [])
                for cid in dict.fromkeys(cid for _, _, cid in entries):
                    case = self.cases[cid]
                    times = case.occurred.pop(alias)
                    case.occurred[p.pseudonym] = case.occurred.get(p.pseudonym, ()) + times
                    case.seen = None
                for entry in entries:
                    insort(self._times.setdefault(p.pseudonym, []), entry)

    def _join(self, case: SimCase, name: str, incident: Incident) -> None:
        case.occurred[name] = (*case.occurred.get(name, ()), incident.occurred_at)
        if incident.incident_ref not in case.incidents:
            case.incidents = case.incidents | {incident.incident_ref}
        case.seen = None
        insort(self._times.setdefault(name, []), (incident.occurred_at.timestamp(), case.seq, case.case_id))
        self._by_ref.setdefault(incident.incident_ref, set()).add(case.case_id)

    def _apply(self, incident: Incident, decision: Decision, fired: frozenset[str]) -> None:
        for a in decision.actions:
            if a.kind is ActionKind.OPEN:
                case = SimCase(
                    a.case_id, incident.incident_ref, incident.report_version, a.mode, a.urgency, a.tier, fired,
                    len(self.cases),
                )  # fmt: skip
                self.cases[a.case_id] = case
                for name in a.people:
                    self._join(case, name, incident)
            elif a.kind is ActionKind.MERGE:
                for name in a.people:
                    self._join(self.cases[a.case_id], name, incident)
            elif a.kind in (ActionKind.ESCALATE, ActionKind.UPDATE):
                case = self.cases[a.case_id]
                for name in a.people:
                    if name not in case.occurred:
                        self._join(case, name, incident)
                case.urgency, case.tier, case.seen = a.urgency, a.tier, None


@dataclass(frozen=True)
class _Profile:
    """Which facts a rule set (with its group policy) reads: the key its evaluations are shared by."""

    ruleset_id: int
    flags: frozenset[str]
    reads: tuple[bool, ...]  # harm, event class, category, age group, source kind, huddle call
    staff_cap: int  # head counts above every staff threshold decide alike
    units_cap: int

    @classmethod
    def of(cls, ruleset: RuleSet, group: GroupPolicy) -> _Profile:
        whens = [r.when for r in ruleset.rules]
        reads = tuple(
            any(getattr(w, name) for w in whens)
            for name in (
                "harm_levels_any",
                "event_classes_any",
                "categories_any",
                "patient_age_groups_any",
                "source_kinds_any",
                "huddle_calls_any",
            )
        )
        staff = [w.staff_more_than for w in whens if w.staff_more_than is not None] + [group.staff_more_than]
        units = [w.units_at_least for w in whens if w.units_at_least is not None] + [group.units_at_least]
        flags = frozenset().union(*(w.cis_flags_any for w in whens))
        return cls(id(ruleset), flags, reads, max(staff) + 1, max(units))

    def key(self, facts: Facts) -> tuple[object, ...]:
        """The facts it reads (the others as None), head count and unit count capped."""
        flags, harm, event_class, category, age_group, source_kind, huddle_call, head_count, units = facts
        single = (harm, event_class, category, age_group, source_kind, huddle_call)
        return (
            self.ruleset_id,
            flags & self.flags,
            *(f if read else None for f, read in zip(single, self.reads, strict=True)),
            min(head_count, self.staff_cap),
            min(units, self.units_cap),
        )
