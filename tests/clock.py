"""Time in tests: no test depends on today's date.

- ``TEST_NOW``: the instant a test session "runs" at. The session-wide autouse fixture ``pinned_clock`` (conftest)
  makes every in-process ``SystemClock`` (and so ``psp_common.clock.utcnow``) start there and run on with the
  monotonic clock: dates are pinned, while timers, leases and retries still see time pass.
- Tests that need a specific time inject a ``psp_common.clock.ManualClock`` or pass ``now`` explicitly.
- ``wall_seconds`` is the one sanctioned read of the real time, for checks against a component that itself
  runs on the real time and cannot be given a clock (a webhook signature timestamp, a token a running process
  verifies). Such checks are relative ("fresh within 300 s"), never about a date.

``tests/test_time_proof.py`` fails when any other test file reads the wall clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from psp_common.clock import SystemClock

TEST_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class PinnedClock:
    """Starts at ``start`` and advances with the monotonic clock (never with the calendar)."""

    start: datetime = TEST_NOW
    _t0: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        """``start`` plus the seconds elapsed since this clock was made."""
        return self.start + timedelta(seconds=time.monotonic() - self._t0)


def pin_system_clock(monkeypatch: pytest.MonkeyPatch) -> PinnedClock:
    """Make every ``SystemClock`` (and ``psp_common.clock.utcnow``) read a fresh ``PinnedClock``."""
    clock = PinnedClock()
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.now())
    return clock


STACK_ENV = {"PSP_OUTREACH_MAX_AGE_DAYS": "36500"}
"""Settings for service processes a test starts: they run on the real clock while the test's incidents are dated
around ``TEST_NOW``, so the rules' outreach max age (30 days by default) is lifted there; otherwise whether they
page would depend on today's date. The max age itself is tested in-process on a ManualClock."""


def wall_seconds() -> float:
    """Real Unix time, only for relative checks against real-time components (see the module docstring)."""
    return time.time()
