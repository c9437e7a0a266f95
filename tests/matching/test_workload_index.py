"""The transaction's team rows are indexed: each case of a batch is counted without going through every row, and
the counts stay those of counting every row (rows arriving in any order, instants asked about moving both ways)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from psp_matching.adapters.workload import Month, Row, Seen, month_of
from tests.matching.factories import NOW

TZ = "America/Toronto"


def counted(rows: set[Row], month: Month, since: datetime, exclude: str) -> tuple[dict[str, int], dict[str, int]]:
    """Every row looked at: the definition the index must keep."""
    in_month: dict[str, set[str]] = {}
    recent: dict[str, set[str]] = {}
    for ref, case_id, at in rows:
        if month.holds(at) and case_id != exclude:
            in_month.setdefault(ref, set()).add(case_id)
        if at >= since:
            recent.setdefault(ref, set()).add(case_id)
    return {r: len(c) for r, c in in_month.items()}, {r: len(c) for r, c in recent.items()}


def test_indexed_counts_equal_counting_every_row() -> None:
    rng = random.Random(7)
    refs, cases = [f"ps_{i}" for i in range(12)], [f"case-{i}" for i in range(150)]

    def row() -> Row:
        return rng.choice(refs), rng.choice(cases), NOW - timedelta(hours=rng.randint(0, 24 * 70))

    known = {row() for _ in range(600)}
    seen = Seen(NOW - timedelta(days=80), known)
    for step in range(800):
        if step % 3 == 0:  # the batch's own matches, in any order, some for a case and supporter seen before
            new = {row() for _ in range(3)}
            seen.add(new)
            known |= new
        at = NOW - timedelta(hours=rng.randint(0, 24 * 40))
        month, since, exclude = month_of(at, TZ), at - timedelta(days=30), rng.choice(cases)
        assert seen.counts(month, since, exclude) == counted(known, month, since, exclude), step
    assert seen.rows == known
