"""Every hard constraint, table-driven: the case, the supporter, and whether it may be proposed."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from psp_matching.domain.constraints import CONSTRAINTS, failed, first_failing, prepare
from psp_matching.domain.matcher import match, unmatched_reasons
from psp_matching.domain.model import ContactHours, Policy
from tests.matching.factories import NOW, POLICY, case, facts, person, supporter
from tests.matching.inlined import random_pairs

TORONTO_DAY = ContactHours(time(8), time(20), "America/Toronto")  # NOW is 10:00 there
TORONTO_EVENING = ContactHours(time(17), time(22), "America/Toronto")
OVERNIGHT = ContactHours(time(20), time(11), "America/Toronto")  # passes midnight, includes 10:00

CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], str | None]] = [
    # (id, supporter overrides, case overrides, facts overrides, expected failing constraint or None)
    ("eligible", {}, {}, {}, None),
    ("inactive", {"active": False}, {}, {}, "available"),
    ("paused", {"paused": True}, {}, {}, "available"),
    ("involved in the event", {"ref": "ps_person"}, {}, {}, "not_involved"),
    ("evaluator", {"evaluates": frozenset({"ps_person"})}, {}, {}, "not_evaluator_or_supervisor"),
    ("supervisor", {"supervises": frozenset({"ps_person"})}, {}, {}, "not_evaluator_or_supervisor"),
    ("evaluates someone else", {"evaluates": frozenset({"ps_other"})}, {}, {}, None),
    ("junior to supported", {"seniority_level": 2}, {"people": (person(seniority_level=5),)}, {}, "not_junior"),
    ("same seniority", {"seniority_level": 3}, {"people": (person(seniority_level=3),)}, {}, None),
    ("seniority unknown", {"seniority_level": 1}, {}, {}, None),
    (
        "junior to one of a group",
        {"seniority_level": 3},
        {"people": (person("a", seniority_level=2), person("b", seniority_level=4))},
        {},
        "not_junior",
    ),
    ("at monthly cap", {}, {}, {"month_counts": {"ps_sup": 2}}, "monthly_cap"),
    ("under monthly cap", {}, {}, {"month_counts": {"ps_sup": 1}}, None),
    ("own lower limit", {"monthly_cap": 1}, {}, {"month_counts": {"ps_sup": 1}}, "monthly_cap"),
    ("within contact hours", {"contact_hours": TORONTO_DAY}, {}, {}, None),
    ("outside contact hours", {"contact_hours": TORONTO_EVENING}, {}, {}, "contact_hours"),
    ("overnight window", {"contact_hours": OVERNIGHT}, {}, {}, None),
    (
        "outside hours, immediate, opted in",
        {"contact_hours": TORONTO_EVENING, "accepts_immediate_outside_hours": True},
        {"urgency": "immediate"},
        {},
        None,
    ),
    (
        "outside hours, immediate, not opted in",
        {"contact_hours": TORONTO_EVENING},
        {"urgency": "immediate"},
        {},
        "contact_hours",
    ),
    (
        "outside hours, opted in, not immediate",
        {"contact_hours": TORONTO_EVENING, "accepts_immediate_outside_hours": True},
        {},
        {},
        "contact_hours",
    ),
    ("group without facilitation training", {"group_facilitation": False}, {"mode": "group"}, {}, "group_facilitation"),
    ("individual without facilitation training", {"group_facilitation": False}, {}, {}, None),
    ("tier 3 without credentials", {"mental_health_credentials": False}, {"tier": 3}, {}, "mental_health_credentials"),
    ("tier 2 without credentials", {"mental_health_credentials": False}, {"tier": 2}, {}, None),
]


@pytest.mark.parametrize(("sup", "cas", "fac", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hard_constraint(sup: dict[str, Any], cas: dict[str, Any], fac: dict[str, Any], expected: str | None) -> None:
    s = supporter(**sup)
    p = prepare(case(**cas), facts(**fac), POLICY)
    assert failed(s, p) == ([expected] if expected else [])
    result = match(case(**cas), [s], facts(**fac), POLICY)
    assert result.matched is (expected is None)


def test_monthly_cap_is_a_setting() -> None:
    s = supporter()
    assert match(case(), [s], facts(month_counts={"ps_sup": 2}), Policy(monthly_cap=3)).matched
    assert not match(case(), [s], facts(month_counts={"ps_sup": 1}), Policy(monthly_cap=1)).matched


def test_unmatched_reasons_count_by_constraint_without_identities() -> None:
    roster = [
        supporter("ps_a", paused=True),
        supporter("ps_b", paused=True, mental_health_credentials=False),
        supporter("ps_c", mental_health_credentials=False),
        supporter("ps_person"),
    ]
    result = match(case(tier=3), roster, facts(), POLICY)
    assert not result.matched and result.eligible == 0
    reasons = unmatched_reasons(result)
    assert reasons[0] == "eligible: 0 of 4 supporters"
    assert "available: 2 excluded (inactive or stepped away)" in reasons
    assert any(r.startswith("mental_health_credentials: 2 excluded") for r in reasons)  # every failure counts
    assert any(r.startswith("not_involved: 1 excluded") for r in reasons)
    assert not any("ps_" in r for r in reasons)


def test_empty_roster_reason() -> None:
    assert unmatched_reasons(match(case(), [], facts(), POLICY)) == ("roster: no supporters registered",)


def test_every_constraint_is_covered_by_the_table() -> None:
    covered = {c[-1] for c in CASES}
    assert {c.name for c in CONSTRAINTS} <= covered


def test_contact_hours_follow_the_supporters_zone() -> None:
    hours = ContactHours(time(8), time(20), "Asia/Tokyo")  # NOW is 00:00 in Tokyo
    assert not hours.contains(NOW)
    assert ContactHours(time(8), time(8), "UTC").contains(NOW)


def test_the_inlined_first_failing_check_is_the_first_constraint_failed() -> None:
    seen: set[str | None] = set()
    for s, p in random_pairs(seed=11, n=4000):
        expected = (failed(s, p) or [None])[0]
        assert first_failing(s, p) == expected, (s, p)
        seen.add(expected)
    assert seen == {None, *(c.name for c in CONSTRAINTS)}  # every constraint met first at least once
