"""Safety-call windows in a facility's local time, correct across daylight-saving changes (pure Python)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Window:
    """A reviewed window, as UTC instants."""

    start: datetime
    end: datetime


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of local wall time ``at`` on ``day`` in ``tz``."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def call_window(day: date, start: time, end: time, tz: ZoneInfo) -> Window:
    """Window of a call on ``day``: ends at local ``end`` that day, starts at ``start`` (the day before if later)."""
    start_day = day if start < end else day - timedelta(days=1)
    return Window(local_instant(start_day, start, tz), local_instant(day, end, tz))


def due_calls(now: datetime, calls: dict[str, time], tz: ZoneInfo, catchup: timedelta) -> list[tuple[str, date]]:
    """(call, local date) pairs whose publish time has passed by at most ``catchup`` (today or yesterday)."""
    today = now.astimezone(tz).date()
    out = []
    for day in (today - timedelta(days=1), today):
        for name, at in calls.items():
            when = local_instant(day, at, tz)
            if when <= now <= when + catchup:
                out.append((name, day))
    return out
