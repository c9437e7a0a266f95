"""The matcher: filter the roster by hard constraints, rank by soft preferences, pick a team."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable

from psp_matching.domain.constraints import CONSTRAINTS, prepare
from psp_matching.domain.model import Case, Facts, MatchResult, Policy, Ranked, Supporter
from psp_matching.domain.scoring import score


def match(case: Case, roster: Iterable[Supporter], facts: Facts, policy: Policy) -> MatchResult:
    """Rank eligible supporters; return primary, co-facilitators (group cases) and backups."""
    p = prepare(case, facts, policy)
    excluded: Counter[str] = Counter()
    ranked: list[tuple[float, int, int, str, tuple[str, ...]]] = []
    size = 0
    for s in roster:
        size += 1
        ok = True
        for c in CONSTRAINTS:
            if not c.check(s, p):
                excluded[c.name] += 1
                ok = False
        if ok:
            total, reasons = score(s, p)
            # Ties: fewer recent assignments, then more experience, then a stable order.
            ranked.append((-total, facts.recent_counts.get(s.ref, 0), -s.years_experience, s.ref, reasons))
    team = policy.group_team_size if p.group else 1
    best = heapq.nsmallest(team + policy.max_backups, ranked)
    picked = [Ranked(ref, -neg, reasons) for neg, _, _, ref, reasons in best]
    if not picked:
        return MatchResult(None, excluded=dict(excluded), roster_size=size, eligible=0)
    notes: tuple[str, ...] = ()
    co = tuple(picked[1:team])
    if p.group and len(co) < team - 1:
        notes = (f"group team incomplete: {1 + len(co)} of {team} facilitators eligible",)
    return MatchResult(
        primary=picked[0], co_facilitators=co, backups=tuple(picked[team:]),
        excluded=dict(excluded), roster_size=size, eligible=len(ranked), notes=notes,
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
