"""Safety-call lists as the console shows them (pure): which facility and day, and each call's rows in its zone.

The notification service builds the lists (``GET /v1/safety-calls/{facility}/{day}/{call}``): flagged events of
the call's window, with no patient or staff identifiers. The console shows them in the facility's zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

CALLS = ("morning", "evening")
FACILITY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ChoiceError(ValueError):
    """A facility or day the page cannot use; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Choice:
    """The facility (None: not chosen yet) and the local day asked for."""

    facility: str | None
    day: date


def choose(facility: str | None, day: str | None, now: datetime, zone_of: Callable[[str | None], ZoneInfo]) -> Choice:
    """The facility and day from the form; the day defaults to today in the facility's zone."""
    facility = (facility or "").strip() or None
    if facility is not None and not FACILITY.match(facility):
        raise ChoiceError("facility", "Facility must be a facility code: letters, digits, '.', '_' or '-'.")
    if not day:
        return Choice(facility, now.astimezone(zone_of(facility)).date())
    try:
        return Choice(facility, date.fromisoformat(day))
    except ValueError:
        raise ChoiceError("day", "Day must be a date like 2026-11-23.") from None


@dataclass(frozen=True)
class Row:
    """One flagged event of a call: no identifiers, the case id for follow-up."""

    case_id: str
    unit: str
    occurred: datetime
    triggers: list[str]
    urgency: str
    mode: str
    status: str


@dataclass(frozen=True)
class CallList:
    """One call's list; ``configured`` is False when the service knows no such call."""

    call: str
    window_start: datetime | None
    window_end: datetime | None
    rows: list[Row]
    configured: bool = True


def _local(value: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(value).astimezone(zone)


def call_list(call: str, feed: dict[str, Any], zone: ZoneInfo) -> CallList:
    """The service's feed with every time in ``zone``."""
    rows = [
        Row(
            case_id=str(e["case_id"]),
            unit=str(e.get("unit", "")),
            occurred=_local(e["occurred_at"], zone),
            triggers=[str(t.get("rule_id", "")) for t in e.get("triggers", []) if isinstance(t, dict)],
            urgency=(e.get("urgency") or "not set").replace("_", " "),
            mode=(e.get("mode") or "not set").replace("_", " "),
            status=str(e.get("status", "")).replace("_", " "),
        )
        for e in feed.get("entries", [])
    ]
    return CallList(call, _local(feed["window_start"], zone), _local(feed["window_end"], zone), rows)
