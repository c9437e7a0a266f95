"""The matcher: filter the roster by hard constraints, rank by soft preferences, pick a team."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable

from psp_matching.domain.constraints import CONSTRAINTS, first_failing, prepare
from psp_matching.domain.errors import NotEligible
from psp_matching.domain.model import CaseProfile, Facts, MatchResult, Policy, Ranked, Supporter
from psp_matching.domain.scoring import points, score

_CHECKS = tuple((c.name, c.check) for c in CONSTRAINTS)


def match(case: CaseProfile, roster: Iterable[Supporter], facts: Facts, policy: Policy) -> MatchResult:
    """Rank eligible supporters; return primary, co-facilitators (group cases) and backups."""
    p = prepare(case, facts, policy)
    first_failed: Counter[str] = Counter()
    eligible: list[Supporter] = []
    ranked: list[tuple[float, int, int, str, int]] = []
    rejected: list[Supporter] = []
    recent = facts.recent_counts
    for s in roster:
        failing = first_failing(s, p)
        if failing is not None:
            first_failed[failing] += 1
            rejected.append(s)
        else:
            # Ties: fewer recent assignments, then more experience, then a stable order (the roster's, last).
            ranked.append((-points(s, p), recent.get(s.ref, 0), -s.years_experience, s.ref, len(eligible)))
            eligible.append(s)
    size = len(ranked) + len(rejected)
    team = policy.group_team_size if p.group else 1
    best = heapq.nsmallest(team + policy.max_backups, ranked)
    picked = [Ranked(s.ref, *score(s, p)) for s in (eligible[r[-1]] for r in best)]
    if not picked:
        # Nobody eligible: count every constraint each supporter fails, for the coordinator.
        excluded: Counter[str] = Counter()
        for s in rejected:
            excluded.update(name for name, check in _CHECKS if not check(s, p))
        return MatchResult(None, excluded=dict(excluded), roster_size=size, eligible=0)
    notes: tuple[str, ...] = ()
    co = tuple(picked[1:team])
    if p.group and len(co) < team - 1:
        notes = (f"group team incomplete: {1 + len(co)} of {team} facilitators eligible",)
    return MatchResult(
        primary=picked[0],
        co_facilitators=co,
        backups=tuple(picked[team:]),
        excluded=dict(first_failed),
        roster_size=size,
        eligible=len(ranked),
        notes=notes,
    )


def unmatched_reasons(result: MatchResult) -> tuple[str, ...]:
    """Why nobody was eligible: supporters excluded per constraint (counts only, no identities)."""
    if result.roster_size == 0:
        return ("roster: no supporters registered",)
    out = [f"eligible: 0 of {result.roster_size} supporters"]
    for c in CONSTRAINTS:
        n = result.excluded.get(c.name, 0)
        if n:
            out.append(f"{c.name}: {n} excluded ({c.explains})")
    return tuple(out)


WAIVABLE = frozenset({"monthly_cap", "contact_hours"})
"""Constraints a coordinator's named assignment may waive: they asked the supporter, who agreed. Never the
safety ones (involved, evaluator or supervisor, seniority, training, credentials) nor a stepped-away supporter."""
ASSIGNED = "assigned by the coordinator"


def assign(case: CaseProfile, supporter: Supporter, facts: Facts, policy: Policy) -> MatchResult:
    """A named supporter as the case's primary (no backups: the coordinator chose them); NotEligible if a
    constraint outside :data:`WAIVABLE` fails."""
    p = prepare(case, facts, policy)
    failing = [c.explains for c in CONSTRAINTS if c.name not in WAIVABLE and not c.check(supporter, p)]
    if failing:
        raise NotEligible(failing)
    waived = [f"{c.explains} (waived)" for c in CONSTRAINTS if c.name in WAIVABLE and not c.check(supporter, p)]
    points_, reasons = score(supporter, p)
    primary = Ranked(supporter.ref, points_, (ASSIGNED, *waived, *reasons))
    notes = (f"group team: 1 of {policy.group_team_size} facilitators, {ASSIGNED}",) if p.group else ()
    return MatchResult(primary=primary, roster_size=1, eligible=1, notes=notes)
