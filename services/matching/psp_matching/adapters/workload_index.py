"""Supporters' workload as counts, in memory: what the stored tallies say plus what a transaction adds.

A case counts for a supporter when they are on one of its teams (primary, co-facilitator, or a backup who
acknowledged), dated by that team row's ``created_at`` (the instant the match was judged at):

- the monthly cap counts the distinct cases with a row in a calendar month of the cap's time zone;
- fairness counts the distinct cases whose latest row for the supporter falls on a UTC day from the day of
  ``judged instant - fairness_window_days`` on (whole days: a case counts for the whole of its latest row's day).

Stored as tallies (``workload_months``: cases per month and supporter; ``workload_days``: cases per UTC day of
their latest row and supporter), kept by every writer of team rows (``adapters.tally``). Adding a row changes
them only by what ``Known`` knows of that case's other rows for the supporter: the case's first row in a month
adds one to that month; a later day of its latest row moves it from its previous day to that one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from psp_matching.domain.model import zone

Row = tuple[str, str, datetime]  # supporter_ref, case_id, created_at (aware)
Counts = dict[date, dict[str, int]]  # month's first day (or day) -> supporter -> cases


@dataclass(frozen=True)
class Month:
    """A calendar month of the cap's time zone, as the UTC instants ``since`` (inclusive) to ``until``; ``first``
    is its first day there (the key of its tallies)."""

    since: datetime
    until: datetime
    first: date

    def holds(self, at: datetime) -> bool:
        """Whether ``at`` falls in this month."""
        return self.since <= at < self.until


def month_start(now: datetime, tz: str) -> datetime:
    """Start of the calendar month of ``now`` in zone ``tz``."""
    local = now.astimezone(zone(tz))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_of(at: datetime, tz: str) -> Month:
    """The calendar month (in zone ``tz``) that ``at`` falls in."""
    start = month_start(at, tz)
    until = month_start(start + timedelta(days=32), tz)
    return Month(start.astimezone(UTC), until.astimezone(UTC), start.date())


def day_of(at: datetime) -> date:
    """The UTC day fairness counts ``at`` on."""
    return at.astimezone(UTC).date()


class Change(NamedTuple):
    """What one new team row changes in the tallies: the month it adds its case to (None when already counted
    there), and the day its case's latest row for the supporter leaves (None: none before) and enters (None:
    the same day as before). A tuple: one is made per row counted."""

    ref: str
    month: date | None
    left: date | None
    entered: date | None


@dataclass
class _Pair:
    months: set[date] = field(default_factory=set)
    latest: datetime | None = None


class Known:
    """Team rows of the cases a transaction decides or writes, per case and supporter: months with a row, latest."""

    def __init__(self, tz: str, rows: Iterable[Row] = ()) -> None:
        self.tz = tz
        self._pairs: dict[str, dict[str, _Pair]] = {}
        self._month: Month | None = None
        for row in rows:
            self.add(row)

    def _first(self, at: datetime) -> date:
        if self._month is None or not self._month.holds(at):
            self._month = month_of(at, self.tz)
        return self._month.first

    def add(self, row: Row) -> Change:
        """Know one more row; what it changes in the tallies."""
        ref, case_id, at = row
        pair = self._pairs.setdefault(case_id, {}).setdefault(ref, _Pair())
        first = self._first(at)
        month = None if first in pair.months else first
        pair.months.add(first)
        before = pair.latest
        if before is None:
            pair.latest = at
            return Change(ref, month, None, day_of(at))
        if at > before:
            pair.latest = at
            if day_of(at) != day_of(before):
                return Change(ref, month, day_of(before), day_of(at))
        return Change(ref, month, None, None)

    def refs_in(self, case_id: str, first: date) -> set[str]:
        """Supporters the case has a row for in the month starting ``first``."""
        return {ref for ref, pair in self._pairs.get(case_id, {}).items() if first in pair.months}


Deltas = Counter[tuple[date, str]]  # (month's first day or day, supporter) -> cases added


def deltas(known: Known, rows: Iterable[Row]) -> tuple[Deltas, Deltas]:
    """What adding ``rows`` (new to ``known``) changes in the month and day tallies: the one counting rule of the
    tallies written (``tally.record``, ``batch.save_cases``) and of a batch's view of them (``Workload.add``)."""
    months: Deltas = Counter()
    days: Deltas = Counter()
    for row in rows:
        change = known.add(row)
        if change.month is not None:
            months[(change.month, change.ref)] += 1
        if change.left is not None:
            days[(change.left, change.ref)] -= 1
        if change.entered is not None:
            days[(change.entered, change.ref)] += 1
    return months, days


@dataclass
class Tallies:
    """Stored tallies as read: distinct cases per month and supporter; per day of latest row and supporter."""

    months: Counts
    days: Counts

    def of(self, refs: set[str]) -> Tallies:
        """Only these supporters' counts."""
        return Tallies(_only(self.months, refs), _only(self.days, refs))

    def replaced(self, fresh: Tallies, refs: set[str]) -> Tallies:
        """These supporters' counts from ``fresh``, the others' as here."""
        rest = Tallies(_only(self.months, _all_but(self.months, refs)), _only(self.days, _all_but(self.days, refs)))
        return Tallies(_merge(rest.months, fresh.months), _merge(rest.days, fresh.days))


def _all_but(counts: Counts, refs: set[str]) -> set[str]:
    return {r for v in counts.values() for r in v} - refs


def _merge(a: Counts, b: Counts) -> Counts:
    out = {k: dict(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, {}).update(v)
    return out


def _only(counts: Counts, refs: set[str]) -> Counts:
    kept = {k: {r: n for r, n in v.items() if r in refs and n} for k, v in counts.items()}
    return {k: v for k, v in kept.items() if v}


class Workload:
    """A batch's view of the workload: the tallies read (``months``; days from ``floor`` on), plus what its own
    rows add (``stored``: the team rows its stored cases had, so that a case counts once per month). Each
    question costs O(supporters): counts per month, and per supporter the cases since the day last asked about
    (moved there from the previous one)."""

    def __init__(self, tallies: Tallies, stored: Sequence[Row], months: Iterable[date], floor: date, tz: str) -> None:
        self.tallies, self.stored, self.floor = tallies, stored, floor
        self.months = frozenset(months)
        self.known = Known(tz, stored)
        self._months = {k: Counter(tallies.months.get(k, {})) for k in self.months}
        self._days = {k: Counter(v) for k, v in tallies.days.items() if k >= floor}
        self._since: date | None = None
        self._recent: Counter[str] = Counter()
        self.added: tuple[Deltas, Deltas] = (Counter(), Counter())  # what the rows added change in the tallies

    def again(self, tallies: Tallies) -> Workload:
        """The same questions on other tallies, without the rows added since."""
        return Workload(tallies, self.stored, self.months, self.floor, self.known.tz)

    def add(self, rows: Iterable[Row]) -> None:
        """Count these new team rows too, as the tallies will (``deltas``; kept in ``added`` to write them)."""
        months, days = deltas(self.known, rows)
        self.added[0].update(months)
        self.added[1].update(days)
        for (first, ref), n in months.items():
            counts = self._months.get(first)
            if counts is not None:
                counts[ref] += n
        for (day, ref), n in days.items():
            if n and day >= self.floor:  # days before the floor are never asked about
                self._bump(ref, day, n)

    def _bump(self, ref: str, day: date, step: int) -> None:
        counts = self._days.get(day)
        if counts is None:
            counts = self._days[day] = Counter()
        counts[ref] += step
        if self._since is not None and day >= self._since:
            self._recent[ref] += step

    def counts(self, month: Month, recent_since: datetime, exclude_case: str) -> tuple[dict[str, int], dict[str, int]]:
        """Distinct cases per supporter in ``month`` (without ``exclude_case``) and from ``recent_since``'s day."""
        out = self.known.refs_in(exclude_case, month.first)
        assert month.first in self.months, "asked about a month whose tallies were not read"
        in_month = {r: m for r, n in self._months[month.first].items() if (m := n - (r in out)) > 0}
        return in_month, self._recent_since(day_of(recent_since))

    def _recent_since(self, since: date) -> dict[str, int]:
        assert since >= self.floor, "asked about a day before the tallies read"
        if self._since is None:
            self._recent = _sum(v for k, v in self._days.items() if k >= since)
        elif since != self._since:
            lo, hi = sorted((since, self._since))
            moved = _sum(v for k, v in self._days.items() if lo <= k < hi)
            if since < self._since:
                self._recent.update(moved)
            else:
                self._recent.subtract(moved)
        self._since = since
        return {r: n for r, n in self._recent.items() if n > 0}


def _sum(counts: Iterable[Mapping[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return total
