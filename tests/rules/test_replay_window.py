"""The what-if replay's merge window at its edges: the replay finds the cases to show the engine on POSIX seconds,
the engine measures the window on the datetimes; an incident exactly at the edge merges, a microsecond past it
opens a case of its own (as live)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from psp_rules.domain.model import Conditions, GroupPolicy, Incident, Person, Rule, RuleSet, Urgency
from psp_rules.domain.replay import History, Replay
from tests.clock import TEST_NOW

RULES = RuleSet("t:1", (Rule("flag", "A flag", Conditions(cis_flags_any=frozenset({"x"})), Urgency.WITHIN_DAYS, 1),))
GROUP = GroupPolicy(staff_more_than=5, units_at_least=2)


def incident(ref: str, hours: float, micro: int = 0) -> Incident:
    return Incident(
        ref, 1, "GEN", "ICU", "native", "incident", (Person("ps_a", "k1", "rn"),),
        TEST_NOW + timedelta(hours=hours, microseconds=micro), cis_flags=frozenset({"x"}),
    )  # fmt: skip


@pytest.mark.parametrize(("micro", "cases"), [(0, 1), (1, 2), (-1, 1)], ids=["at the edge", "just past", "just inside"])
@pytest.mark.parametrize("later_first", [False, True], ids=["in order", "reversed"])
def test_the_merge_window_edge_is_decided_on_event_time(micro: int, cases: int, later_first: bool) -> None:
    replay, history = Replay(GROUP, 72.0, {}), History()
    versions = [incident("r1", 0), incident("r2", 72, micro)]
    for i in reversed(versions) if later_first else versions:
        replay.decide(history.next(i), RULES)
    assert len(replay.cases) == cases
    if cases == 1:
        (case,) = replay.cases.values()
        assert case.incidents == {"r1", "r2"} and len(case.occurred["ps_a"]) == 2
