"""Rule sets: the ``route`` of a rule (outreach, triage, outreach_and_triage) is validated and reaches the engine."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from psp_rules.adapters.ruleset_schema import load_text
from psp_rules.domain.engine import ActionKind, decide, evaluate
from psp_rules.domain.model import Context, GroupPolicy, Route
from psp_rules.handlers import to_incident
from tests.rules.helpers import observed

RULE = """
name: t
rules:
  - id: ask
    text: A coordinator decides
    when: {event_classes_any: [near_miss]}
    urgency: within_days
    tier: 1
"""
GROUP = GroupPolicy(staff_more_than=5, units_at_least=3)


def test_route_defaults_to_outreach_and_is_validated() -> None:
    assert load_text(RULE).to_domain("t:1").rules[0].route is Route.OUTREACH
    assert load_text(RULE + "    route: triage\n").to_domain("t:1").rules[0].route is Route.TRIAGE
    with pytest.raises(ValidationError) as bad:
        load_text(RULE + "    route: human\n")
    assert bad.value.errors()[0]["loc"] == ("rules", 0, "route")
    with pytest.raises(ValidationError, match="modifier"):
        load_text(RULE + "    route: triage\n    modifier: true\n")


def test_a_triage_rule_asks_a_human_first_and_requests_outreach_once_dispatched() -> None:
    rules = load_text(RULE + "    route: triage\n").to_domain("t:1")
    live = to_incident(observed(event_class="near_miss", harm_level=None, ids=("E1", "E2")))
    decision = decide(live, evaluate(live, rules, GROUP), Context(merge_window_hours=72))
    assert [(a.kind, len(a.people), a.note) for a in decision.actions] == [(ActionKind.TRIAGE, 2, "ask")]
    dispatched = to_incident(observed(event_class="near_miss", harm_level=None, ids=("E1",), triaged=True))
    again = decide(dispatched, evaluate(dispatched, rules, GROUP), Context(merge_window_hours=72, last_version=1))
    assert [a.kind for a in again.actions] == [ActionKind.OPEN]
    not_triaged = decide(live, evaluate(live, rules, GROUP), Context(merge_window_hours=72, last_version=1))
    assert not_triaged.outcome == "no change: version already decided"
