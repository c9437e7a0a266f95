"""Soft preferences: each returns points and, when it counts, a human-readable reason."""

from __future__ import annotations

from collections.abc import Callable

from psp_matching.domain.constraints import Prepared
from psp_matching.domain.model import Supporter

Score = tuple[float, str | None]


def on_shift(s: Supporter, p: Prepared, explain: bool = True) -> Score:
    """Prefer supporters in the workplace now."""
    if s.ref in p.facts.on_shift:
        return p.policy.weights.on_shift, "on shift now"
    return 0.0, None


def discipline(s: Supporter, p: Prepared, explain: bool = True) -> Score:
    """Prefer the case's discipline choice: same profession (default), another one, or either."""
    if not p.professions or p.case.discipline == "any":
        return 0.0, None
    same = s.profession in p.professions
    if p.case.discipline == "same" and same:
        return p.policy.weights.discipline, f"same discipline ({s.profession})" if explain else None
    if p.case.discipline == "other" and not same:
        return p.policy.weights.discipline, f"other discipline ({s.profession})" if explain else None
    return 0.0, None


def same_site(s: Supporter, p: Prepared, explain: bool = True) -> Score:
    """Prefer supporters at the case's facility."""
    if s.site == p.case.facility:
        return p.policy.weights.same_site, f"same site ({s.site})" if explain else None
    return 0.0, None


def language(s: Supporter, p: Prepared, explain: bool = True) -> Score:
    """Prefer a shared language with the supported people (when known)."""
    shared = s.languages & p.languages
    if shared:
        return p.policy.weights.language, "speaks " + ", ".join(sorted(shared)) if explain else None
    return 0.0, None


def fairness(s: Supporter, p: Prepared, explain: bool = True) -> Score:
    """Prefer supporters with fewer recent assignments."""
    recent = p.facts.recent_counts.get(s.ref, 0)
    days = p.policy.fairness_window_days
    if recent == 0:
        return 0.0, f"no assignments in the last {days} days" if explain else None
    return -p.policy.weights.fairness * recent, f"{recent} assignment(s) in the last {days} days" if explain else None


def continuity(s: Supporter, p: Prepared, explain: bool = True) -> Score:
    """Prefer a supporter already on this case or already supporting one of these people."""
    if s.ref in p.facts.on_case:
        return p.policy.weights.continuity, "already on this case"
    if s.ref in p.facts.supporting_person:
        return p.policy.weights.continuity, "already supporting this person"
    return 0.0, None


PREFERENCES: tuple[tuple[str, Callable[[Supporter, Prepared, bool], Score]], ...] = (
    ("continuity", continuity),
    ("on_shift", on_shift),
    ("discipline", discipline),
    ("same_site", same_site),
    ("language", language),
    ("fairness", fairness),
)


def points(s: Supporter, p: Prepared) -> float:
    """Total score only: what ``score`` totals, without reasons (built for the shortlist alone).

    The hot path (every eligible supporter of every request), so the preferences above are inlined: the same
    tests, whose points are added in the order of ``PREFERENCES`` (the same float sum; a test compares the two).
    """
    facts, w, case, ref = p.facts, p.policy.weights, p.case, s.ref
    total = 0.0
    if ref in facts.on_case or ref in facts.supporting_person:
        total += w.continuity
    if ref in facts.on_shift:
        total += w.on_shift
    if p.professions and case.discipline != "any":
        same = s.profession in p.professions
        if (same and case.discipline == "same") or (not same and case.discipline == "other"):
            total += w.discipline
    if s.site == case.facility:
        total += w.same_site
    if s.languages & p.languages:
        total += w.language
    recent = facts.recent_counts.get(ref, 0)
    if recent != 0:
        total += -w.fairness * recent
    return total


def score(s: Supporter, p: Prepared) -> tuple[float, tuple[str, ...]]:
    """Total score of an eligible supporter and the reasons behind it."""
    total = 0.0
    reasons: list[str] = []
    for _, pref in PREFERENCES:
        points, reason = pref(s, p, True)
        total += points
        if reason:
            reasons.append(reason)
    return total, tuple(reasons)
