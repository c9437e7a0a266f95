"""The matching Case aggregate (pure): every transition, every illegal one, and the events it records."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from psp_matching.domain import events
from psp_matching.domain.cases import (
    BACKUP,
    KEPT,
    MATCHED,
    NEW,
    UNMATCHED,
    Action,
    Case,
    Request,
)
from psp_matching.domain.errors import CaseClosed, NotThisCase
from psp_matching.domain.matcher import unmatched_reasons
from psp_matching.domain.model import MatchResult, Person, Ranked
from tests.matching.factories import NOW

LATER = NOW + timedelta(minutes=5)
ASKED = NOW - timedelta(hours=2)  # when rules requested it: the match is judged then
REQUEST = Request(
    case_id="00000000-0000-0000-0000-00000000000c",
    correlation_id="00000000-0000-0000-0000-0000000000cc",
    incident_ref="ref_1",
    report_version=1,
    facility="GEN",
    unit="ICU",
    urgency="within_hours",
    mode="individual",
    tier=2,
    roles={"ps_person_a": "rn"},
)
A, B, C = Ranked("ps_sup_a", 5.0, ("on shift",)), Ranked("ps_sup_b", 3.0, ()), Ranked("ps_sup_c", 1.0, ())
FOUND = MatchResult(primary=A, backups=(B, C), roster_size=3, eligible=3)
NOBODY = MatchResult(primary=None, excluded={"active": 2}, roster_size=2)


def opened(request: Request = REQUEST) -> Case:
    case = Case.open(request, "same", NOW)
    assert case.request(request, NOW) == (Action.MATCH, "new case")
    return case


def matched() -> Case:
    case = opened()
    case.record_match(FOUND, "new case", ASKED, NOW)
    case.stored, case.new_assignment, case.events = True, None, []  # as the repository leaves it
    return case


def test_a_new_case_is_new_until_matched() -> None:
    case = Case.open(REQUEST, "any", NOW)
    assert (case.status, case.stored, case.discipline, case.people) == (NEW, False, "any", ["ps_person_a"])
    assert case.events == [] and case.new_assignment is None


def test_requested_to_matched_records_the_assignment_and_supporter_matched() -> None:
    case = opened()
    case.record_match(FOUND, "new case", ASKED, NOW)
    a = case.new_assignment
    assert a is not None and case.status == MATCHED and case.assignment_id == a.assignment_id
    assert (a.primary_ref, a.team, a.supported, a.created_at) == ("ps_sup_a", ("ps_sup_a",), ("ps_person_a",), ASKED)
    assert [(c.supporter_ref, c.role) for c in a.candidates] == [
        ("ps_sup_a", "primary"),
        ("ps_sup_b", "backup"),
        ("ps_sup_c", "backup"),
    ]
    assert case.last_decision == "matched (new case)" and case.updated_at == NOW
    [event] = case.events
    assert isinstance(event, events.SupporterMatched)
    assert (event.assignment_id, event.primary, event.backups, event.supersedes) == (a.assignment_id, A, (B, C), None)
    assert (event.occurred_at, event.case.supported, event.case.urgency) == (NOW, ("ps_person_a",), "within_hours")


def test_requested_to_unmatched_records_reasons_by_constraint() -> None:
    case = opened()
    case.record_match(NOBODY, "new case", ASKED, NOW)
    assert case.status == UNMATCHED and case.assignment_id is None and case.new_assignment is None
    [event] = case.events
    assert isinstance(event, events.SupporterUnmatched)
    assert event.reasons == unmatched_reasons(NOBODY) and event.reasons[0] == "eligible: 0 of 2 supporters"
    assert case.reasons == list(event.reasons)
    assert case.last_decision == "unmatched (new case)"


def test_a_retry_that_finds_nobody_publishes_nothing() -> None:
    case = opened()
    case.record_match(NOBODY, "previously unmatched", ASKED, NOW, publish_unmatched=False)
    assert case.status == UNMATCHED and case.events == []


def test_unmatched_on_a_matched_case_keeps_the_assignment() -> None:
    case = matched()
    kept = case.assignment_id
    case.record_match(NOBODY, "coordinator re-match", LATER, LATER)
    assert (case.status, case.assignment_id, case.reasons[-1]) == (MATCHED, kept, KEPT)
    assert isinstance(case.events[0], events.SupporterUnmatched) and case.events[0].reasons[-1] == KEPT


def test_rematch_supersedes_the_previous_assignment() -> None:
    case = matched()
    previous = case.assignment_id
    case.rematch("other")
    case.record_match(replace(FOUND, primary=B, backups=(A,)), "coordinator re-match", LATER, LATER)
    [event] = case.events
    assert isinstance(event, events.SupporterMatched)
    assert previous is not None and event.supersedes == previous and event.assignment_id != previous
    assert case.discipline == "other" and case.assignment_id == event.assignment_id
    assert case.new_assignment is not None and case.new_assignment.created_at == LATER


def test_rematch_keeps_the_discipline_when_none_is_given() -> None:
    case = matched()
    case.rematch(None)
    assert case.discipline == "same"


def test_a_repeat_is_ignored_or_merged_and_never_de_escalates() -> None:
    case = matched()
    assert case.request(REQUEST, LATER) == (Action.IGNORE, "same people, urgency and tier did not rise")
    assert case.last_decision.startswith("ignored repeat") and case.updated_at == LATER
    more = replace(REQUEST, urgency="within_days", mode="group", roles={"ps_person_b": "md"}, report_version=2)
    action, why = case.request(more, LATER)
    assert (action, why) == (Action.REMATCH, "new people on the case")
    assert case.people == ["ps_person_a", "ps_person_b"] and case.roles == {"ps_person_a": "rn", "ps_person_b": "md"}
    assert (case.urgency, case.mode, case.tier, case.report_version) == ("within_hours", "group", 2, 2)
    lower = replace(REQUEST, mode="individual", tier=1)
    assert case.request(lower, LATER)[0] is Action.IGNORE
    assert (case.mode, case.tier) == ("group", 2)


def test_a_previously_unmatched_case_is_retried() -> None:
    case = opened()
    case.record_match(NOBODY, "new case", ASKED, NOW)
    case.stored = True
    assert case.request(REQUEST, LATER) == (Action.RETRY, "previously unmatched")


def test_a_person_named_under_a_new_key_is_not_a_new_person() -> None:
    case = matched()
    rotated = replace(REQUEST, roles={"ps_person_a_new": "rn"}, aliases={"ps_person_a_new": ("ps_person_a",)})
    assert case.request(rotated, LATER)[0] is Action.IGNORE
    assert case.people == ["ps_person_a_new"] and case.aliases == {"ps_person_a_new": ["ps_person_a"]}
    assert case.roles == {"ps_person_a_new": "rn"}


def test_a_backup_who_acknowledged_joins_the_team_once() -> None:
    case = matched()
    aid = case.assignment_id
    assert aid is not None
    assert case.backup_acknowledged(aid, "ps_sup_b", LATER) is True
    [member] = case.joined
    assert (member.assignment_id, member.supporter_ref, member.role, member.created_at) == (
        aid,
        "ps_sup_b",
        BACKUP,
        LATER,
    )
    assert case.backup_acknowledged(aid, "ps_sup_b", LATER) is False  # a replay
    assert case.backup_acknowledged(aid, "ps_sup_a", LATER) is False  # the primary was on the team
    assert len(case.joined) == 1


def test_an_acknowledgement_for_another_case_assignment_is_refused() -> None:
    case = matched()
    with pytest.raises(NotThisCase):
        case.backup_acknowledged("00000000-0000-0000-0000-0000000000ff", "ps_sup_b", LATER)
    assert case.joined == []


def test_closed_starts_retention_once_and_ends_matching() -> None:
    case = matched()
    assert case.close(LATER) is True and case.closed_at == LATER
    assert case.close(LATER + timedelta(days=1)) is False and case.closed_at == LATER
    bigger = replace(REQUEST, urgency="immediate")
    assert case.request(bigger, LATER) == (Action.IGNORE, "the outreach is already closed")
    assert case.urgency == "within_hours"
    with pytest.raises(CaseClosed):
        case.rematch("other")
    with pytest.raises(CaseClosed):
        case.record_match(FOUND, "late", LATER, LATER)
    assert case.events == [] and case.discipline == "same"


def test_domain_errors_name_the_rule_not_the_case() -> None:
    for error in (CaseClosed(), NotThisCase()):
        assert error.detail and error.reason and "0000" not in str(error)


def test_the_matcher_sees_the_case_with_profiles() -> None:
    case = matched()
    people = (Person("ps_person_a", profession="rn"),)
    profile = case.profile(people)
    assert (profile.case_id, profile.people, profile.urgency, profile.discipline) == (
        REQUEST.case_id,
        people,
        "within_hours",
        "same",
    )
