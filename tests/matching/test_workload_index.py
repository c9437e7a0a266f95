"""The workload tallies and a batch's view of them count what counting every team row counts: distinct cases
per supporter in the cap's month (without the case being decided), and distinct cases whose latest row for the
supporter falls on a UTC day from the window's first day on (whole days). Rows arrive in any order; the day
asked about moves both ways."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from psp_matching.adapters.workload_index import Known, Month, Row, Tallies, Workload, day_of, deltas, month_of
from tests.matching.factories import NOW

TZ = "America/Toronto"


def counted(rows: set[Row], month: Month, since: datetime, exclude: str) -> tuple[dict[str, int], dict[str, int]]:
    """Every row looked at: the definition the tallies must keep."""
    in_month: dict[str, set[str]] = {}
    latest: dict[tuple[str, str], datetime] = {}
    for ref, case_id, at in rows:
        if month.holds(at) and case_id != exclude:
            in_month.setdefault(ref, set()).add(case_id)
        latest[(ref, case_id)] = max(at, latest.get((ref, case_id), at))
    recent: dict[str, int] = {}
    for (ref, _), at in latest.items():
        if day_of(at) >= day_of(since):
            recent[ref] = recent.get(ref, 0) + 1
    return {r: len(c) for r, c in in_month.items()}, recent


def tallies_of(rows: set[Row]) -> Tallies:
    """The tallies the writers keep, for these rows."""
    months, days = deltas(Known(TZ), rows)
    out = Tallies({}, {})
    for target, counts in ((out.months, months), (out.days, days)):
        for (k, ref), n in counts.items():
            if n:
                target.setdefault(k, {})[ref] = n
    return out


def test_a_batch_counts_what_every_row_counts() -> None:
    rng = random.Random(7)
    refs, cases = [f"ps_{i}" for i in range(12)], [f"case-{i}" for i in range(150)]

    def row(case_id: str | None = None) -> Row:
        return rng.choice(refs), case_id or rng.choice(cases), NOW - timedelta(hours=rng.randint(0, 24 * 70))

    stored = {row() for _ in range(600)}
    batch_cases = rng.sample(cases, 20)  # the batch's cases: their stored rows are known to it
    floor = day_of(NOW - timedelta(days=75))
    months = {month_of(NOW - timedelta(days=d), TZ).first for d in range(0, 75)}
    view = Workload(tallies_of(stored), [r for r in stored if r[1] in batch_cases], months, floor, TZ)
    known = set(stored)
    for step in range(800):
        if step % 3 == 0:  # the batch's own matches, in any order, some for a case and supporter seen before
            new = {row(rng.choice(batch_cases)) for _ in range(3)}
            view.add(sorted(new - known))
            known |= new
        at = NOW - timedelta(hours=rng.randint(0, 24 * 40))
        month, since, exclude = month_of(at, TZ), at - timedelta(days=30), rng.choice(batch_cases)
        assert view.counts(month, since, exclude) == counted(known, month, since, exclude), step


def test_fairness_counts_whole_days() -> None:
    """A case matched at 00:30 UTC counts for the whole of that day: a match judged 30 days and 23 hours later
    still sees it (the window's first day is that day), one judged a day later does not."""
    first = datetime(2026, 10, 1, 0, 30, tzinfo=UTC)
    rows = {("ps_a", "case-1", first)}
    months = {month_of(first + timedelta(days=d), TZ).first for d in (30, 31)}
    view = Workload(tallies_of(rows), [], months, date(2026, 9, 1), TZ)
    late = first + timedelta(days=30, hours=23)
    assert view.counts(month_of(late, TZ), late - timedelta(days=30), "other")[1] == {"ps_a": 1}
    later = first + timedelta(days=31)
    assert view.counts(month_of(later, TZ), later - timedelta(days=30), "other")[1] == {}


def test_what_a_batch_counts_in_memory_is_what_it_writes() -> None:
    """The batch writes the tallies its view counted (``Workload.added``, by ``deltas``): the stored tallies plus
    those are the tallies of every row, and a view read from them afterwards answers as the batch's view did."""
    rng = random.Random(3)
    refs, cases = [f"ps_{i}" for i in range(6)], [f"case-{i}" for i in range(40)]

    def row(case_id: str) -> Row:
        return rng.choice(refs), case_id, NOW - timedelta(hours=rng.randint(0, 24 * 70))

    stored = {row(rng.choice(cases)) for _ in range(200)}
    batch_cases = rng.sample(cases, 10)
    floor, months = day_of(NOW - timedelta(days=75)), {month_of(NOW - timedelta(days=d), TZ).first for d in range(40)}
    view = Workload(tallies_of(stored), [r for r in stored if r[1] in batch_cases], months, floor, TZ)
    new = {row(rng.choice(batch_cases)) for _ in range(60)} - stored
    for r in sorted(new, key=lambda r: r[2]):
        view.add([r])
    written = Tallies({}, {})
    for target, base, added in ((written.months, tallies_of(stored).months, view.added[0]),
                                (written.days, tallies_of(stored).days, view.added[1])):  # fmt: skip
        for k, by_ref in base.items():
            target.setdefault(k, {}).update(by_ref)
        for (k, ref), n in added.items():
            target.setdefault(k, {})[ref] = target.get(k, {}).get(ref, 0) + n
    assert Tallies.of(written, set(refs)) == Tallies.of(tallies_of(stored | new), set(refs))
    after = Workload(written, [], months, floor, TZ)
    for days_ago in range(0, 40, 3):
        at = NOW - timedelta(days=days_ago)
        question = (month_of(at, TZ), at - timedelta(days=30), "none")
        assert view.counts(*question) == after.counts(*question) == counted(stored | new, *question), days_ago
