"""Compare two replays of the same history (the active rule set and a draft): what the draft would change.

Cases are compared by id, which the engine derives from the incident and the person (or the group), so the same
case under both rule sets has the same id. A case only one side opens is attributed to the rules that fired on
the version that opened it there and not on that version under the other side; when the same rules fired on
both, it is attributed to ``SAME_RULES`` (it differs by merging or grouping, e.g. another merge window or
group threshold). Urgency and mode are compared per incident, on its newest version.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from psp_rules.domain.model import Mode, Urgency
from psp_rules.domain.replay import Outcome, Replay, SimCase

SAME_RULES = "(same rules: merging or grouping)"
NONE = "none"
URGENCIES = (NONE, Urgency.WITHIN_DAYS.value, Urgency.WITHIN_HOURS.value, Urgency.IMMEDIATE.value)
MODES = (NONE, Mode.INDIVIDUAL.value, Mode.GROUP.value)


@dataclass(frozen=True)
class SideTotals:
    """What one rule set made of the history."""

    rule_sets: tuple[str, ...]  # version labels used (one per facility decided)
    cases: int
    people: int  # people in those cases (a person in two cases counts twice)
    cases_by_urgency: dict[str, int]
    cases_by_mode: dict[str, int]
    incidents_with_rules_fired: int
    rules_fired: dict[str, int]  # rule id -> versions it fired on


@dataclass(frozen=True)
class Change:
    """Cases only one side opens, in total and by rule."""

    cases: int
    by_rule: dict[str, int]


@dataclass(frozen=True)
class Comparison:
    """The difference between the active rule set and the draft on one history."""

    versions: int
    incidents: int
    active: SideTotals
    draft: SideTotals
    added: Change
    removed: Change
    urgency: dict[tuple[str, str], int]  # (active, draft) -> incidents; 'none' when no rule fired
    mode: dict[tuple[str, str], int]  # (active, draft) -> incidents, only where they differ


def totals(replay: Replay) -> SideTotals:
    """One side's totals."""
    cases = replay.cases.values()
    return SideTotals(
        rule_sets=tuple(sorted(replay.versions_used)),
        cases=len(replay.cases),
        people=sum(len(c.occurred) for c in cases),
        cases_by_urgency=dict(sorted(Counter(c.urgency.value for c in cases).items())),
        cases_by_mode=dict(sorted(Counter(c.mode.value for c in cases).items())),
        incidents_with_rules_fired=sum(1 for o in replay.last.values() if o.fired),
        rules_fired=dict(sorted(replay.rules_fired.items())),
    )


def _only(mine: Replay, other: Replay) -> Change:
    by_rule: Counter[str] = Counter()
    only = [c for cid, c in mine.cases.items() if cid not in other.cases]
    for case in only:
        by_rule.update(_why(case, other.outcomes.get((case.incident_ref, case.report_version))))
    return Change(len(only), dict(sorted(by_rule.items())))


def _why(case: SimCase, other: Outcome | None) -> frozenset[str]:
    rules = case.opened_by - (other.fired if other else frozenset())
    return rules or frozenset({SAME_RULES})


def _label(value: Urgency | Mode | None) -> str:
    return value.value if value is not None else NONE


def compare(active: Replay, draft: Replay, versions: int) -> Comparison:
    """What changes from ``active`` to ``draft`` (both replays of the same ``versions`` incident versions)."""
    urgency: Counter[tuple[str, str]] = Counter()
    mode: Counter[tuple[str, str]] = Counter()
    for ref, a in active.last.items():
        d = draft.last[ref]
        urgency[(_label(a.urgency), _label(d.urgency))] += 1
        if a.mode != d.mode:
            mode[(_label(a.mode), _label(d.mode))] += 1
    return Comparison(
        versions=versions,
        incidents=len(active.last),
        active=totals(active),
        draft=totals(draft),
        added=_only(draft, active),
        removed=_only(active, draft),
        urgency=dict(urgency),
        mode=dict(mode),
    )
