"""Every soft preference, table-driven, plus ranking, teams, backups and repeat decisions."""

from __future__ import annotations

from typing import Any

import pytest

from psp_matching.domain.cases import Action, PriorCase, decide
from psp_matching.domain.constraints import prepare
from psp_matching.domain.matcher import match
from psp_matching.domain.model import Policy, Weights
from psp_matching.domain.scoring import PREFERENCES, points, score
from tests.matching.factories import POLICY, case, facts, person, supporter
from tests.matching.inlined import random_pairs

W = Weights()

PREFS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], float, str | None]] = [
    # (id, supporter overrides, case overrides, facts overrides, expected points, expected reason)
    ("on shift", {}, {}, {"on_shift": frozenset({"ps_sup"})}, W.on_shift, "on shift now"),
    ("same discipline", {"profession": "rn"}, {}, {}, W.discipline, "same discipline (rn)"),
    ("other discipline when same wanted", {"profession": "rt"}, {}, {}, 0.0, None),
    (
        "other discipline wanted",
        {"profession": "rt"},
        {"discipline": "other"},
        {},
        W.discipline,
        "other discipline (rt)",
    ),
    ("same discipline when other wanted", {"profession": "rn"}, {"discipline": "other"}, {}, 0.0, None),
    ("any discipline", {"profession": "rn"}, {"discipline": "any"}, {}, 0.0, None),
    ("unknown profession of supported", {}, {"people": (person(profession=None),)}, {}, 0.0, None),
    ("same site", {"site": "GEN"}, {}, {}, W.same_site, "same site (GEN)"),
    ("other site", {"site": "NORTH"}, {}, {}, 0.0, None),
    (
        "shared language",
        {"languages": frozenset({"en", "fr"})},
        {"people": (person(languages=frozenset({"fr"})),)},
        {},
        W.language,
        "speaks fr",
    ),
    (
        "no shared language",
        {"languages": frozenset({"en"})},
        {"people": (person(languages=frozenset({"fr"})),)},
        {},
        0.0,
        None,
    ),
    ("no recent assignments", {}, {}, {}, 0.0, "no assignments in the last 30 days"),
    (
        "two recent assignments",
        {},
        {},
        {"recent_counts": {"ps_sup": 2}},
        -2 * W.fairness,
        "2 assignment(s) in the last 30 days",
    ),
    ("already on the case", {}, {}, {"on_case": frozenset({"ps_sup"})}, W.continuity, "already on this case"),
    (
        "already supporting the person",
        {},
        {},
        {"supporting_person": frozenset({"ps_sup"})},
        W.continuity,
        "already supporting this person",
    ),
]

PREF_BY_ID = {
    "on shift": "on_shift",
    "same discipline": "discipline",
    "other discipline when same wanted": "discipline",
    "other discipline wanted": "discipline",
    "same discipline when other wanted": "discipline",
    "any discipline": "discipline",
    "unknown profession of supported": "discipline",
    "same site": "same_site",
    "other site": "same_site",
    "shared language": "language",
    "no shared language": "language",
    "no recent assignments": "fairness",
    "two recent assignments": "fairness",
    "already on the case": "continuity",
    "already supporting the person": "continuity",
}


@pytest.mark.parametrize(("name", "sup", "cas", "fac", "points", "reason"), PREFS, ids=[p[0] for p in PREFS])
def test_soft_preference(
    name: str, sup: dict[str, Any], cas: dict[str, Any], fac: dict[str, Any], points: float, reason: str | None
) -> None:
    pref = dict(PREFERENCES)[PREF_BY_ID[name]]
    assert pref(supporter(**sup), prepare(case(**cas), facts(**fac), POLICY)) == (points, reason)


def test_every_preference_is_covered() -> None:
    assert {n for n, _ in PREFERENCES} == set(PREF_BY_ID.values())


def test_weights_are_configurable() -> None:
    policy = Policy(weights=Weights(same_site=10.0, on_shift=0.5))
    near = supporter("ps_near", site="GEN")
    shift = supporter("ps_shift", site="NORTH")
    f = facts(on_shift=frozenset({"ps_shift"}))
    assert match(case(), [near, shift], f, policy).primary.ref == "ps_near"  # type: ignore[union-attr]
    assert match(case(), [near, shift], f, POLICY).primary.ref == "ps_shift"  # type: ignore[union-attr]
    flipped = Policy(weights=Weights(same_site=0.5, on_shift=10.0))
    assert match(case(), [near, shift], f, flipped).primary.ref == "ps_shift"  # type: ignore[union-attr]


def test_ranking_primary_backups_and_reasons() -> None:
    roster = [
        supporter("ps_busy"),
        supporter("ps_other_site", site="NORTH"),
        supporter("ps_rt", profession="rt"),
        supporter("ps_best"),
        supporter("ps_more", site="EAST", profession="rt"),
    ]
    f = facts(on_shift=frozenset({"ps_best"}), recent_counts={"ps_busy": 1})
    result = match(case(), roster, f, Policy(max_backups=3))
    assert result.primary is not None and result.primary.ref == "ps_best"
    assert "on shift now" in result.primary.reasons and "same site (GEN)" in result.primary.reasons
    assert [b.ref for b in result.backups] == ["ps_busy", "ps_other_site", "ps_rt"]
    assert result.eligible == 5
    assert len(match(case(), roster, f, Policy(max_backups=1)).backups) == 1


def test_fairness_breaks_ties_toward_the_least_used() -> None:
    roster = [supporter("ps_a"), supporter("ps_b")]
    result = match(case(), roster, facts(recent_counts={"ps_a": 1}), POLICY)
    assert result.primary is not None and result.primary.ref == "ps_b"


def test_group_case_gets_a_trained_facilitator_team() -> None:
    roster = [
        supporter("ps_lead"),
        supporter("ps_co", site="NORTH"),
        supporter("ps_untrained", group_facilitation=False),
        supporter("ps_backup", site="EAST"),
    ]
    f = facts(on_shift=frozenset({"ps_lead"}), recent_counts={"ps_backup": 1})
    result = match(case(mode="group"), roster, f, POLICY)
    assert result.primary is not None and result.primary.ref == "ps_lead"
    assert [c.ref for c in result.co_facilitators] == ["ps_co"]
    assert [b.ref for b in result.backups] == ["ps_backup"]
    assert result.notes == ()


def test_group_case_with_one_facilitator_notes_the_gap() -> None:
    result = match(case(mode="group"), [supporter("ps_only")], facts(), POLICY)
    assert result.matched and result.co_facilitators == ()
    assert result.notes == ("group team incomplete: 1 of 2 facilitators eligible",)


FAST = [
    ({}, {}),
    ({"site": "X", "profession": "rt"}, {"recent_counts": {"ps_sup": 3}}),
    ({}, {"on_shift": frozenset({"ps_sup"}), "on_case": frozenset({"ps_sup"})}),
]


@pytest.mark.parametrize(("sup", "fac"), FAST)
def test_fast_points_equal_explained_score(sup: dict[str, Any], fac: dict[str, Any]) -> None:
    p = prepare(case(), facts(**fac), POLICY)
    assert points(supporter(**sup), p) == score(supporter(**sup), p)[0]


def test_the_inlined_points_equal_the_explained_score_on_random_cases() -> None:
    totals = set()
    for s, p in random_pairs(seed=5, n=4000):
        assert points(s, p) == score(s, p)[0], (s, p)  # the same float, summed in the same order
        totals.add(points(s, p))
    assert len(totals) > 50


def test_score_sums_preferences() -> None:
    p = prepare(case(), facts(on_shift=frozenset({"ps_sup"})), POLICY)
    total, reasons = score(supporter(), p)
    assert total == W.on_shift + W.discipline + W.same_site
    assert reasons[0] == "on shift now"


PEOPLE = frozenset({"a"})
REPEATS: list[tuple[Any, ...]] = [
    ("first time", None, "within_days", PEOPLE, Action.MATCH),
    ("urgency rose", PriorCase("within_days", PEOPLE, True), "immediate", PEOPLE, Action.REMATCH),
    ("same urgency", PriorCase("within_hours", PEOPLE, True), "within_hours", PEOPLE, Action.IGNORE),
    ("urgency fell", PriorCase("immediate", PEOPLE, True), "within_days", PEOPLE, Action.IGNORE),
    ("new person", PriorCase("within_hours", PEOPLE, True), "within_hours", frozenset({"a", "b"}), Action.REMATCH),
    ("fewer people", PriorCase("within_hours", frozenset({"a", "b"}), True), "within_hours", PEOPLE, Action.IGNORE),
    ("was unmatched", PriorCase("within_hours", PEOPLE, False), "within_hours", PEOPLE, Action.RETRY),
    ("tier rose", PriorCase("within_hours", PEOPLE, True, tier=2), "within_hours", PEOPLE, Action.REMATCH, 3),
    ("tier fell", PriorCase("within_hours", PEOPLE, True, tier=3), "within_hours", PEOPLE, Action.IGNORE, 2),
    (
        "became a group",
        PriorCase("within_hours", PEOPLE, True, tier=2),
        "within_hours",
        PEOPLE,
        Action.REMATCH,
        2,
        "group",
    ),
]


@pytest.mark.parametrize("row", REPEATS, ids=[r[0] for r in REPEATS])
def test_repeat_decision(row: tuple[Any, ...]) -> None:
    _, prior, urgency, people, expected, *rest = row
    assert decide(prior, urgency, people, *rest)[0] is expected
