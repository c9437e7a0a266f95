"""Builders for matching domain tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from psp_matching.domain.model import CaseProfile, Facts, Person, Policy, Supporter

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 in Toronto


def supporter(ref: str = "ps_sup", **over: Any) -> Supporter:
    """An eligible-by-default supporter at GEN."""
    base = Supporter(
        ref=ref,
        profession="rn",
        seniority_level=4,
        site="GEN",
        years_experience=10,
        languages=frozenset({"en"}),
        group_facilitation=True,
        mental_health_credentials=True,
    )
    return replace(base, **over)


def person(ref: str = "ps_person", **over: Any) -> Person:
    """A clinician to support (seniority unknown by default)."""
    return replace(Person(ref=ref, profession="rn"), **over)


def case(**over: Any) -> CaseProfile:
    """A death-of-patient individual case at GEN."""
    base = CaseProfile(
        case_id="c1", facility="GEN", people=(person(),), urgency="within_hours", mode="individual", tier=2
    )
    return replace(base, **over)


def facts(**over: Any) -> Facts:
    """Facts at NOW with no history."""
    return replace(Facts(now=NOW), **over)


POLICY = Policy()
