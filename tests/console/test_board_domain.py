"""The board's order and clocks at an injected now: unmatched, escalated, answer overdue, contact overdue, then
the rest; most urgent and oldest first within each; the timeline merges statuses and pages in time order."""

from __future__ import annotations

from datetime import timedelta

from psp_console.domain.board import BoardCase, Need, countdown, line, need_of, order, span
from psp_console.domain.case_view import timeline
from tests.clock import TEST_NOW

NOW = TEST_NOW


def case(cid: str, **over: object) -> BoardCase:
    values: dict[str, object] = {
        "case_id": cid,
        "facility": "GEN",
        "unit": "ICU",
        "urgency": "within_hours",
        "status": "notified",
        "occurred_at": NOW - timedelta(hours=1),
        "assignment_state": "paging",
        "paged_ref": "ps_a",
        "ack_deadline": NOW + timedelta(minutes=10),
        "contact_deadline": NOW + timedelta(hours=11),
    }
    return BoardCase(**(values | over))  # type: ignore[arg-type]


def test_what_needs_a_human_comes_first() -> None:
    in_hand = case("in-hand")
    contact = case("contact", assignment_state="acknowledged", paged_ref=None, acknowledged_by="ps_a",
                   contact_deadline=NOW - timedelta(minutes=1))  # fmt: skip
    ack = case("ack", ack_deadline=NOW - timedelta(seconds=1))
    escalated = case("escalated", status="escalated", assignment_state="escalated", paged_ref=None)
    unmatched = case("unmatched", status="unmatched", assignment_state=None, paged_ref=None, ack_deadline=None)
    board = order([in_hand, contact, ack, escalated, unmatched], NOW)
    assert [b.case.case_id for b in board] == ["unmatched", "escalated", "ack", "contact", "in-hand"]
    assert [b.need for b in board] == list(Need)


def test_within_a_need_the_most_urgent_then_the_oldest_incident_first() -> None:
    old = case("old", occurred_at=NOW - timedelta(hours=5))
    new_immediate = case("new-immediate", urgency="immediate", occurred_at=NOW - timedelta(minutes=5))
    new = case("new", occurred_at=NOW - timedelta(minutes=5))
    assert [b.case.case_id for b in order([new, old, new_immediate], NOW)] == ["new-immediate", "old", "new"]


def test_a_deadline_reached_exactly_now_is_overdue_and_the_clocks_count() -> None:
    c = case("c", ack_deadline=NOW)
    assert need_of(c, NOW) is Need.ACK_OVERDUE
    assert need_of(c, NOW - timedelta(seconds=1)) is Need.IN_HAND
    b = line(case("c"), NOW)
    assert b.since_incident.text == "1 h 00 min ago"
    assert b.ack.text == "10 min left" and not b.ack.overdue
    assert line(case("c"), NOW + timedelta(minutes=13)).ack.text == "overdue by 3 min"
    assert b.contact.text == "11 h 00 min left"


def test_stopped_clocks_say_why() -> None:
    reached = line(
        case("r", paged_ref=None, acknowledged_by="ps_a", assignment_state="contacted", contacted_at=NOW), NOW
    )
    assert reached.ack.text == "answered" and reached.contact.text == "reached" and reached.need is Need.IN_HAND
    assert "close the case" in reached.next_step
    lonely = line(case("u", status="unmatched", paged_ref=None, ack_deadline=None, contact_deadline=None), NOW)
    assert lonely.ack.text == "not running" and lonely.contact.text == "not running"
    assert "re-match or assign" in lonely.next_step


def test_spans_read_naturally() -> None:
    assert [span(timedelta(seconds=s)) for s in (5, 59, 60, 3599, 3600, 3660, 86400 + 7200)] == [
        "5 s", "59 s", "1 min", "59 min", "1 h 00 min", "1 h 01 min", "1 d 2 h",
    ]  # fmt: skip
    assert countdown(None, NOW).text == "not running"


def test_board_items_from_the_api_parse_their_times() -> None:
    item = {"case_id": "x", "facility": "GEN", "unit": "ICU", "urgency": None, "status": "requested",
            "occurred_at": "2026-11-23T10:00:00+00:00", "ack_deadline": None, "contact_deadline": None}  # fmt: skip
    c = BoardCase.from_api(item)
    assert c.occurred_at == NOW - timedelta(hours=2) and line(c, NOW).urgency == "Not stated"


def test_the_timeline_merges_statuses_and_pages_in_time_order() -> None:
    history = [
        {"status": "requested", "at": "2026-11-23T12:00:00+00:00"},
        {"status": "acknowledged", "supporter_ref": "ps_a", "at": "2026-11-23T12:05:00+00:00"},
    ]
    deliveries = [{"purpose": "page", "supporter_ref": "ps_a", "channel": "console", "state": "sent",
                   "response": "acknowledged", "sent_at": "2026-11-23T12:01:00+00:00",
                   "created_at": "2026-11-23T12:00:30+00:00"}]  # fmt: skip
    entries = timeline(history, deliveries)
    assert [e.what for e in entries] == ["Outreach requested", "Page to a supporter", "Supporter took the case"]
    assert entries[1].detail == "via console · sent · answer: took it" and entries[1].who == "ps_a"
