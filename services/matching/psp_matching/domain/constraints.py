"""Hard constraints: a supporter failing any of them is never proposed for the case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import time

from psp_matching.domain.model import GROUP, IMMEDIATE, CaseProfile, Facts, Policy, Supporter, local_time


@dataclass(frozen=True, slots=True)
class Prepared:
    """Case-derived values computed once, then checked against every supporter."""

    case: CaseProfile
    facts: Facts
    policy: Policy
    people: frozenset[str]  # pseudonyms of the supported people under every key still active
    most_senior: int | None
    professions: frozenset[str]
    languages: frozenset[str]
    immediate: bool
    group: bool
    local_now: dict[str, time]

    def local(self, tz: str) -> time:
        """The case's 'now' on the wall clock of ``tz`` (computed once per zone)."""
        t = self.local_now.get(tz)
        if t is None:
            t = self.local_now[tz] = local_time(self.facts.now, tz)
        return t


def prepare(case: CaseProfile, facts: Facts, policy: Policy) -> Prepared:
    """Precompute what every constraint and preference needs from the case."""
    seniorities = [p.seniority_level for p in case.people if p.seniority_level is not None]
    return Prepared(
        case=case,
        facts=facts,
        policy=policy,
        people=frozenset(n for p in case.people for n in (p.ref, *p.aliases)),  # any key still active
        most_senior=max(seniorities) if seniorities else None,
        professions=frozenset(p.profession for p in case.people if p.profession),
        languages=frozenset(lang for p in case.people for lang in p.languages),
        immediate=case.urgency == IMMEDIATE,
        group=case.mode == GROUP,
        local_now={},
    )


def available(s: Supporter, p: Prepared) -> bool:
    """Active and not stepped away (paused)."""
    return s.active and not s.paused


def not_involved(s: Supporter, p: Prepared) -> bool:
    """Not one of the people involved in the same event (under any key still active)."""
    return s.ref not in p.people and not s.aliases & p.people


def not_evaluator_or_supervisor(s: Supporter, p: Prepared) -> bool:
    """Never someone who evaluates or supervises a supported person."""
    return not (s.evaluates & p.people or s.supervises & p.people)


def not_junior(s: Supporter, p: Prepared) -> bool:
    """No junior supporting someone more senior (only when the seniority is known)."""
    return p.most_senior is None or s.seniority_level >= p.most_senior


def under_monthly_cap(s: Supporter, p: Prepared) -> bool:
    """Fewer cases this calendar month than the cap (the supporter's own limit if lower)."""
    cap = p.policy.monthly_cap if s.monthly_cap is None else min(s.monthly_cap, p.policy.monthly_cap)
    return p.facts.month_counts.get(s.ref, 0) < cap


def within_contact_hours(s: Supporter, p: Prepared) -> bool:
    """Within contact hours now, unless the case is immediate and the supporter opted in."""
    if s.contact_hours is None or (p.immediate and s.accepts_immediate_outside_hours):
        return True
    return s.contact_hours.contains_local(p.local(s.contact_hours.tz))


def trained_for_groups(s: Supporter, p: Prepared) -> bool:
    """Group cases need group-facilitation training."""
    return not p.group or s.group_facilitation


def credentialed_for_tier(s: Supporter, p: Prepared) -> bool:
    """Tier-3 cases (severe trauma, expedited referral) need mental-health credentials."""
    return p.case.tier != 3 or s.mental_health_credentials


@dataclass(frozen=True, slots=True)
class Constraint:
    """A named hard constraint with a human-readable explanation."""

    name: str
    check: Callable[[Supporter, Prepared], bool]
    explains: str


CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint("available", available, "inactive or stepped away"),
    Constraint("not_involved", not_involved, "involved in the same event"),
    Constraint(
        "not_evaluator_or_supervisor", not_evaluator_or_supervisor, "evaluates or supervises a supported person"
    ),
    Constraint("not_junior", not_junior, "less senior than a supported person"),
    Constraint("monthly_cap", under_monthly_cap, "monthly assignment cap reached"),
    Constraint("contact_hours", within_contact_hours, "outside contact hours"),
    Constraint("group_facilitation", trained_for_groups, "no group-facilitation training (group case)"),
    Constraint("mental_health_credentials", credentialed_for_tier, "no mental-health credentials (tier 3)"),
)


def first_failing(s: Supporter, p: Prepared) -> str | None:
    """The name of the first of ``CONSTRAINTS`` that ``s`` fails (None: eligible).

    The hot path (every supporter of every request), so the checks above are inlined here in the same order (a
    test compares the two on random rosters and cases).
    """
    if not s.active or s.paused:
        return "available"
    people = p.people
    if s.ref in people or s.aliases & people:
        return "not_involved"
    if s.evaluates & people or s.supervises & people:
        return "not_evaluator_or_supervisor"
    if p.most_senior is not None and s.seniority_level < p.most_senior:
        return "not_junior"
    cap = p.policy.monthly_cap if s.monthly_cap is None else min(s.monthly_cap, p.policy.monthly_cap)
    if p.facts.month_counts.get(s.ref, 0) >= cap:
        return "monthly_cap"
    hours = s.contact_hours
    if (
        hours is not None
        and not (p.immediate and s.accepts_immediate_outside_hours)
        and not hours.contains_local(p.local(hours.tz))
    ):
        return "contact_hours"
    if p.group and not s.group_facilitation:
        return "group_facilitation"
    if p.case.tier == 3 and not s.mental_health_credentials:
        return "mental_health_credentials"
    return None


def failed(s: Supporter, p: Prepared) -> list[str]:
    """Names of the constraints ``s`` fails for the prepared case."""
    return [c.name for c in CONSTRAINTS if not c.check(s, p)]
