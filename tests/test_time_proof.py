"""No test reads the wall clock: a scan of every test file, and proof that the pinned clock reaches services."""

from __future__ import annotations

import ast
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from psp_common.clock import SYSTEM, ManualClock, SystemClock, utcnow
from psp_common.events.envelope import Envelope
from tests.clock import TEST_NOW, PinnedClock

TESTS = Path(__file__).parent
# The one sanctioned reader of real time (see its docstring for when it may be used).
ALLOWED = {TESTS / "clock.py"}

DATE_TYPES = {"datetime", "date"}
DATE_READS = {"now", "utcnow", "today", "fromtimestamp", "utcfromtimestamp"}
TIME_READS = {"time", "time_ns", "localtime", "gmtime", "ctime", "asctime"}
CLOCK_NAMES = {"utcnow", "utc_now", "SystemClock", "SYSTEM"}
SESSION_LIMIT = timedelta(hours=3)  # the pinned clock runs on from TEST_NOW for as long as the session lasts


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def wall_clock_reads(source: str) -> list[str]:
    """Every place ``source`` reads the wall clock, as 'line: what'."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        what = ""
        if isinstance(node, ast.Attribute):
            owner = _dotted(node.value).rsplit(".", 1)[-1]
            if owner in DATE_TYPES and node.attr in DATE_READS:
                what = f"{owner}.{node.attr}"
            elif owner == "time" and node.attr in TIME_READS:
                what = f"time.{node.attr}"
            elif node.attr in CLOCK_NAMES:
                what = node.attr
        elif isinstance(node, ast.Name) and node.id in CLOCK_NAMES:
            what = node.id
        elif isinstance(node, ast.ImportFrom):
            names = {a.name for a in node.names}
            if node.module == "time" and names & TIME_READS:
                what = f"from time import {', '.join(sorted(names & TIME_READS))}"
            elif names & CLOCK_NAMES:
                what = f"import of {', '.join(sorted(names & CLOCK_NAMES))}"
        if what:
            found.append(f"{getattr(node, 'lineno', 0)}: {what}")
    return found


def test_no_test_file_reads_the_wall_clock() -> None:
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        if path in ALLOWED or path == Path(__file__):
            continue
        reads = wall_clock_reads(path.read_text(encoding="utf-8"))
        if reads:
            offenders[str(path.relative_to(TESTS))] = reads
    assert offenders == {}, (
        "tests must not read the wall clock; inject psp_common.clock.ManualClock, pass `now`, use "
        f"tests.clock.TEST_NOW, or (for real-time components only) tests.clock.wall_seconds: {offenders}"
    )


@pytest.mark.parametrize(
    "snippet",
    [
        "from datetime import UTC, datetime\nx = datetime.now(UTC)",
        "import datetime as dt\nx = dt.datetime.now()",
        "import datetime\nx = datetime.datetime.utcnow()",
        "from datetime import date\nx = date.today()",
        "import time\nx = time.time()",
        "import time\nx = time.time_ns()",
        "from time import time\nx = time()",
        "from psp_common.events.envelope import utcnow\nx = utcnow()",
        "from psp_common import clock\nx = clock.utcnow()",
        "from psp_common.clock import SystemClock\nc = SystemClock()",
        "from psp_common.retention import utc_now\nf = utc_now",
        "from datetime import datetime\nx = datetime.fromtimestamp(0)",
    ],
)
def test_the_scan_catches_each_way_of_reading_the_wall_clock(snippet: str) -> None:
    assert wall_clock_reads(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        "x = clock.now()",
        "import time\nt0 = time.monotonic()",
        "from datetime import datetime, UTC\nx = datetime(2026, 11, 23, tzinfo=UTC)",
        "x = ManualClock(T0).advance(minutes=5)",
        "x = event.occurred_at.date()",
    ],
)
def test_the_scan_allows_injected_and_fixed_times(snippet: str) -> None:
    assert wall_clock_reads(snippet) == []


def test_the_pinned_clock_reaches_every_system_clock(pinned_clock: PinnedClock) -> None:
    """Services read time only through SystemClock, so pinning it pins them: the date is TEST_NOW's."""
    for now in (SystemClock().now(), SYSTEM.now(), utcnow(), pinned_clock.now()):
        assert TEST_NOW <= now < TEST_NOW + SESSION_LIMIT
    produced = Envelope(occurred_at=TEST_NOW, correlation_id=uuid.uuid4()).produced_at
    assert TEST_NOW <= produced < TEST_NOW + SESSION_LIMIT


def test_a_manual_clock_moves_only_by_hand() -> None:
    clock = ManualClock(TEST_NOW)
    assert clock.now() == clock.now() == TEST_NOW
    assert clock.advance(hours=2) == TEST_NOW + timedelta(hours=2)
    with pytest.raises(ValueError):
        ManualClock(TEST_NOW.replace(tzinfo=None))
