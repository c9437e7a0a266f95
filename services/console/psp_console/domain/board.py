"""The live board's rules: what needs a human first, and how each case's clocks read at ``now`` (pure).

Order: unmatched, escalated, acknowledgement overdue, contact overdue, then the rest; within a group the most
urgent first, then the oldest incident. Every time is compared with the ``now`` passed in (tests inject it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

URGENCY_RANK = {"immediate": 0, "within_hours": 1, "within_days": 2}
URGENCY_LABEL = {"immediate": "Immediate", "within_hours": "Within hours", "within_days": "Within days"}
OPEN_ASSIGNMENT = {"paging", "acknowledged", "escalated"}


class Need(IntEnum):
    """What a case needs, most pressing first."""

    UNMATCHED = 0
    ESCALATED = 1
    ACK_OVERDUE = 2
    CONTACT_OVERDUE = 3
    IN_HAND = 4

    @property
    def label(self) -> str:
        """How the board names it."""
        return NEED_LABELS[self]


NEED_LABELS = {
    Need.UNMATCHED: "Unmatched",
    Need.ESCALATED: "Escalated",
    Need.ACK_OVERDUE: "Answer overdue",
    Need.CONTACT_OVERDUE: "Contact overdue",
    Need.IN_HAND: "In hand",
}


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value if isinstance(value, datetime) else None


@dataclass(frozen=True)
class BoardCase:
    """An open case as notification's ``GET /v1/board`` describes it (pseudonyms only)."""

    case_id: str
    facility: str
    unit: str
    urgency: str | None
    status: str
    occurred_at: datetime
    assignment_state: str | None = None
    primary_ref: str | None = None
    acknowledged_by: str | None = None
    paged_ref: str | None = None
    ack_deadline: datetime | None = None
    contact_deadline: datetime | None = None
    contacted_at: datetime | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> BoardCase:
        """From one item of the board API's JSON."""
        occurred = _at(item.get("occurred_at"))
        if occurred is None:
            raise ValueError("board item without occurred_at")
        return cls(
            case_id=str(item["case_id"]),
            facility=str(item.get("facility", "")),
            unit=str(item.get("unit", "")),
            urgency=item.get("urgency"),
            status=str(item.get("status", "")),
            occurred_at=occurred,
            assignment_state=item.get("assignment_state"),
            primary_ref=item.get("primary_ref"),
            acknowledged_by=item.get("acknowledged_by"),
            paged_ref=item.get("paged_ref"),
            ack_deadline=_at(item.get("ack_deadline")),
            contact_deadline=_at(item.get("contact_deadline")),
            contacted_at=_at(item.get("contacted_at")),
        )


def need_of(case: BoardCase, now: datetime) -> Need:
    """What the case needs at ``now``."""
    if case.status == "unmatched":
        return Need.UNMATCHED
    if case.status == "escalated" or case.assignment_state == "escalated":
        return Need.ESCALATED
    if case.paged_ref and case.ack_deadline is not None and case.ack_deadline <= now:
        return Need.ACK_OVERDUE
    contact_open = case.contacted_at is None and case.assignment_state in OPEN_ASSIGNMENT
    if contact_open and case.contact_deadline is not None and case.contact_deadline <= now:
        return Need.CONTACT_OVERDUE
    return Need.IN_HAND


def span(delta: timedelta) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h`` (the absolute value)."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{days} d {hours % 24} h"


@dataclass(frozen=True)
class ClockReading:
    """One clock of a case: the instant it counts to (or from) and how it reads now."""

    at: datetime | None
    text: str
    overdue: bool = False


def countdown(deadline: datetime | None, now: datetime, done: str | None = None) -> ClockReading:
    """Time left until ``deadline`` (or by how much it is past); ``done`` when the clock has stopped."""
    if done is not None:
        return ClockReading(None, done)
    if deadline is None:
        return ClockReading(None, "not running")
    if deadline <= now:
        return ClockReading(deadline, f"overdue by {span(now - deadline)}", overdue=True)
    return ClockReading(deadline, f"{span(deadline - now)} left")


@dataclass(frozen=True)
class BoardLine:
    """A case on the board: what it needs, its three clocks and the next step."""

    case: BoardCase
    need: Need
    since_incident: ClockReading
    ack: ClockReading
    contact: ClockReading
    next_step: str

    @property
    def urgency(self) -> str:
        """The urgency as the board reads it."""
        return URGENCY_LABEL.get(self.case.urgency or "", "Not stated")


def next_step(case: BoardCase, need: Need) -> str:
    """The sentence telling the coordinator what to do (or what is happening)."""
    if need is Need.UNMATCHED:
        return "Nobody eligible was found: open the case to re-match or assign a supporter."
    if need is Need.ESCALATED:
        return "Nobody took the case: call a supporter, then assign them on the case page."
    if need is Need.ACK_OVERDUE:
        return "The page went unanswered: the next backup is being paged; call them if it is urgent."
    if need is Need.CONTACT_OVERDUE:
        return "The colleague has not been reached in time: check with the supporter."
    if case.contacted_at is not None:
        return "The colleague was reached; close the case when support is done."
    if case.acknowledged_by:
        return "A supporter took the case and is reaching the colleague."
    if case.paged_ref:
        return "Waiting for the paged supporter to answer."
    return "Outreach requested; matching is choosing a supporter."


def line(case: BoardCase, now: datetime) -> BoardLine:
    """The board line of one case at ``now``."""
    need = need_of(case, now)
    answered = None if case.paged_ref else ("answered" if case.acknowledged_by else None)
    reached = "reached" if case.contacted_at is not None else None
    return BoardLine(
        case=case,
        need=need,
        since_incident=ClockReading(case.occurred_at, f"{span(now - case.occurred_at)} ago"),
        ack=countdown(case.ack_deadline if case.paged_ref else None, now, answered),
        contact=countdown(case.contact_deadline, now, reached),
        next_step=next_step(case, need),
    )


def order(cases: Iterable[BoardCase], now: datetime) -> list[BoardLine]:
    """The board at ``now``: most pressing need first, then most urgent, then the oldest incident."""
    lines = [line(c, now) for c in cases]
    return sorted(
        lines, key=lambda b: (b.need, URGENCY_RANK.get(b.case.urgency or "", 3), b.case.occurred_at, b.case.case_id)
    )
