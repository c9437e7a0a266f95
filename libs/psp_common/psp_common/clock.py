"""The one source of 'now': services take a ``Clock`` from bootstrap; tests inject a ``ManualClock``.

Decisions are judged on event time (``occurred_at``); the clock only stamps when something was handled,
drives timers (acknowledgement windows, retries, leases) and retention. ``SystemClock`` is the only place
the services read the calendar time, so a test session can pin it (see ``tests/clock.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current time (injectable so tests fix or fast-forward it)."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        return datetime.now(UTC)


@dataclass
class ManualClock:
    """A clock that stands still until moved by hand (tests, replays)."""

    current: datetime

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware time")

    def now(self) -> datetime:
        """The stored time."""
        return self.current

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``."""
        self.current = self.current + timedelta(**delta)
        return self.current

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (timezone-aware)."""
        if when.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware time")
        self.current = when
        return when


SYSTEM = SystemClock()


def utcnow() -> datetime:
    """Current time from the system clock (for defaults that have no injected clock at hand)."""
    return SYSTEM.now()
