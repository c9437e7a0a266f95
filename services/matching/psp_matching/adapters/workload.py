"""Supporters' workload: their cases in a calendar month (the cap) and in a recent window (fairness).

A case counts for a supporter when they are on one of its teams (primary, co-facilitator, or a backup who
acknowledged), dated by that team row's ``created_at`` (the instant the match was judged at). Each case is
judged at its own instant, so the events of one consumed batch may ask about different months and windows.
The transaction keeps the team rows it has read (``Seen``: every row dated from a floor on, plus those it
queued) and answers each question from them in memory: a batch reads once unless a case asks further back.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_common.deferred import deferred_rows
from psp_common.locks import lock_all
from psp_matching.adapters.orm import members
from psp_matching.domain.model import zone

MEMO = "psp.matching.workload"
_TICK = timedelta(microseconds=1)
Row = tuple[str, str, datetime]  # supporter_ref, case_id, created_at (UTC)
# Built once: constructing a statement per call costs about as much as running it.
SINCE = select(members.c.supporter_ref, members.c.case_id, members.c.created_at).where(
    members.c.created_at >= bindparam("since")
)
TEAM_SINCE = SINCE.where(members.c.supporter_ref.in_(bindparam("refs", expanding=True)))


@dataclass(frozen=True)
class Month:
    """A calendar month of the cap's time zone, as the UTC instants ``since`` (inclusive) to ``until``."""

    since: datetime
    until: datetime

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
    return Month(start.astimezone(UTC), month_start(start + timedelta(days=32), tz).astimezone(UTC))


class Seen:
    """Team rows this transaction knows of: all of them dated ``floor`` or later when read, plus its own.

    Indexed as rows arrive, so each case of a batch is counted without going through every row: per month asked
    about, each supporter's cases in it; per supporter and case, its latest row, in time order, with the count
    per supporter since the instant last asked about (moved there from the previous one).
    """

    def __init__(self, floor: datetime, rows: Iterable[Row] = ()) -> None:
        self.floor = floor
        self._rows: set[Row] = set()
        self._months: dict[Month, dict[str, set[str]]] = {}
        self._latest: dict[tuple[str, str], datetime] = {}  # (supporter, case) -> its latest row
        self._order: list[tuple[datetime, str, str]] = []  # (latest, supporter, case), ascending
        self._since: datetime | None = None
        self._recent: Counter[str] = Counter()  # cases per supporter with a row at or after ``_since``
        for ref, case_id, at in rows:  # in bulk: sorted once
            self._rows.add((ref, case_id, at))
            if at > self._latest.get((ref, case_id), at - _TICK):
                self._latest[(ref, case_id)] = at
        self._order = sorted((at, ref, case_id) for (ref, case_id), at in self._latest.items())

    @property
    def rows(self) -> AbstractSet[Row]:
        """The rows known (read only: add with ``add``)."""
        return self._rows

    def add(self, rows: Iterable[Row]) -> None:
        """Know these rows too."""
        for row in rows:
            if row in self._rows:
                continue
            self._rows.add(row)
            ref, case_id, at = row
            for month, cases in self._months.items():
                if month.holds(at):
                    cases.setdefault(ref, set()).add(case_id)
            self._note_latest(ref, case_id, at)

    def _note_latest(self, ref: str, case_id: str, at: datetime) -> None:
        old = self._latest.get((ref, case_id))
        if old is not None and old >= at:
            return
        self._latest[(ref, case_id)] = at
        if old is not None:
            del self._order[bisect_left(self._order, (old, ref, case_id))]
        insort(self._order, (at, ref, case_id))
        if self._since is not None and at >= self._since and (old is None or old < self._since):
            self._recent[ref] += 1

    def counts(
        self, month: Month, recent_since: datetime, exclude_case: str | None
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Distinct cases per supporter in ``month`` (without ``exclude_case``) and since ``recent_since``."""
        cases = self._months.get(month)
        if cases is None:
            cases = self._months[month] = {}
            for ref, case_id, at in self._rows:
                if month.holds(at):
                    cases.setdefault(ref, set()).add(case_id)
        in_month = {r: n for r, c in cases.items() if (n := len(c) - (exclude_case in c))}
        return in_month, self._recent_since(recent_since)

    def _recent_since(self, since: datetime) -> dict[str, int]:
        if self._since is None:
            self._recent = Counter(ref for _, ref, _ in self._order[bisect_left(self._order, (since,)) :])
        elif since != self._since:
            lo, hi = sorted((since, self._since))
            step = 1 if since < self._since else -1
            for _, ref, _ in self._order[bisect_left(self._order, (lo,)) : bisect_left(self._order, (hi,))]:
                self._recent[ref] += step
        self._since = since
        return {r: n for r, n in self._recent.items() if n > 0}


def supporter_lock(ref: str) -> str:
    """Advisory lock name of one supporter's workload: held from counting their cases to the commit."""
    return f"psp.matching.supporter:{ref}"


def _row(ref: str, case_id: str, at: datetime) -> Row:
    if at.tzinfo is UTC:  # PostgreSQL's, as read
        return ref, case_id, at
    when = aware(at)
    assert when is not None
    return ref, case_id, when.astimezone(UTC)


def note_team(session: AsyncSession, refs: Iterable[str], case_id: str, at: datetime) -> None:
    """Keep the transaction's copy true after adding team rows for ``case_id`` dated ``at``."""
    seen: Seen | None = session.info.get(MEMO)
    if seen is not None:
        seen.add(_row(ref, case_id, at) for ref in refs)


class WorkloadRepository:
    """Counts of supporters' cases, and the locks that keep the monthly cap across transactions."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def counts(
        self, month: Month, recent_since: datetime, exclude_case: str, new_case: bool = False
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Distinct cases per supporter in ``month`` (without ``exclude_case``) and since ``recent_since``.

        A new case reads the rows once per transaction (again only when it asks further back than read); an
        existing case reads them afresh, as its earlier teams may have changed meanwhile.
        """
        floor = min(month.since, recent_since.astimezone(UTC))
        seen: Seen | None = self.session.info.get(MEMO)
        if seen is None or seen.floor > floor or not new_case:
            seen = self.session.info[MEMO] = await self.read(floor)
        return seen.counts(month, recent_since.astimezone(UTC), exclude_case)

    async def read(self, floor: datetime) -> Seen:
        """Every team row dated ``floor`` or later, stored or queued in this transaction (one query)."""
        seen = Seen(floor, [_row(*r) for r in await self.session.execute(SINCE, {"since": floor})])
        self._add_queued(seen, None)
        return seen

    def _add_queued(self, seen: Seen, refs: set[str] | None) -> None:
        for m in deferred_rows(self.session, members):  # queued in this transaction, not inserted yet
            row = _row(m["supporter_ref"], m["case_id"], m["created_at"])
            if row[2] >= seen.floor and (refs is None or row[0] in refs):
                seen.add([row])

    async def lock(self, refs: Iterable[str]) -> None:
        """Hold these supporters' workload locks until commit (taken before adding them to any team)."""
        await lock_all(self.session, [supporter_lock(r) for r in refs])

    async def lock_and_read(self, refs: Iterable[str], since: datetime) -> set[Row]:
        """Lock these supporters' workload until commit, then read their stored team rows dated ``since`` or later
        (another instance may have added some since this transaction read them; after the lock none can)."""
        wanted = sorted(set(refs))
        await self.lock(wanted)
        rows = await self.session.execute(TEAM_SINCE, {"refs": wanted, "since": since.astimezone(UTC)})
        return {_row(*r) for r in rows}

    async def lock_month_counts(self, refs: Iterable[str], month: Month, case_id: str) -> dict[str, int]:
        """Lock these supporters' workload until commit, then count their cases in ``month`` (without ``case_id``).

        Counted from what is committed now (another instance may have assigned them since this transaction read
        its workload) and what this transaction queued. Every writer of team rows takes the same locks.
        """
        wanted = sorted(set(refs))
        await self.lock(wanted)
        fresh = Seen(month.since)
        fresh.add(_row(*r) for r in await self.session.execute(TEAM_SINCE, {"refs": wanted, "since": month.since}))
        self._add_queued(fresh, set(wanted))
        counts, _ = fresh.counts(month, month.until, case_id)
        seen: Seen | None = self.session.info.get(MEMO)
        if seen is not None:  # keep the batch's copy true: these rows are committed or queued
            seen.add(r for r in fresh.rows if r[2] >= seen.floor)
        return {ref: counts.get(ref, 0) for ref in wanted}
