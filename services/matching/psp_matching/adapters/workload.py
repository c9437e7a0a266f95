"""Supporters' workload: their cases in a calendar month (the cap) and in a recent window (fairness).

A case counts for a supporter when they are on one of its teams (primary, co-facilitator, or a backup who
acknowledged), dated by that team row's ``created_at`` (the instant the match was judged at). Each case is
judged at its own instant, so the events of one consumed batch may ask about different months and windows.
The transaction keeps the team rows it has read (``Seen``: every row dated from a floor on, plus those it
queued) and answers each question from them in memory: a batch reads once unless a case asks further back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_common.deferred import deferred_rows
from psp_common.locks import lock_all
from psp_matching.adapters.orm import members
from psp_matching.domain.model import zone

MEMO = "psp.matching.workload"
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


@dataclass
class Seen:
    """Team rows this transaction knows of: all of them dated ``floor`` or later when read, plus its own."""

    floor: datetime
    rows: set[Row] = field(default_factory=set)

    def counts(
        self, month: Month, recent_since: datetime, exclude_case: str | None
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Distinct cases per supporter in ``month`` (without ``exclude_case``) and since ``recent_since``."""
        in_month: dict[str, set[str]] = {}
        recent: dict[str, set[str]] = {}
        for ref, case_id, at in self.rows:
            if month.holds(at) and case_id != exclude_case:
                in_month.setdefault(ref, set()).add(case_id)
            if at >= recent_since:
                recent.setdefault(ref, set()).add(case_id)
        return {r: len(c) for r, c in in_month.items()}, {r: len(c) for r, c in recent.items()}


def supporter_lock(ref: str) -> str:
    """Advisory lock name of one supporter's workload: held from counting their cases to the commit."""
    return f"psp.matching.supporter:{ref}"


def _row(ref: str, case_id: str, at: datetime) -> Row:
    when = aware(at)
    assert when is not None
    return ref, case_id, when.astimezone(UTC)


def note_team(session: AsyncSession, refs: Iterable[str], case_id: str, at: datetime) -> None:
    """Keep the transaction's copy true after adding team rows for ``case_id`` dated ``at``."""
    seen: Seen | None = session.info.get(MEMO)
    if seen is not None:
        seen.rows.update(_row(ref, case_id, at) for ref in refs)


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
            seen = self.session.info[MEMO] = await self._read(floor)
        return seen.counts(month, recent_since.astimezone(UTC), exclude_case)

    async def _read(self, floor: datetime) -> Seen:
        seen = Seen(floor)
        seen.rows.update(_row(*r) for r in await self.session.execute(SINCE, {"since": floor}))
        self._add_queued(seen, None)
        return seen

    def _add_queued(self, seen: Seen, refs: set[str] | None) -> None:
        for m in deferred_rows(self.session, members):  # queued in this transaction, not inserted yet
            row = _row(m["supporter_ref"], m["case_id"], m["created_at"])
            if row[2] >= seen.floor and (refs is None or row[0] in refs):
                seen.rows.add(row)

    async def lock(self, refs: Iterable[str]) -> None:
        """Hold these supporters' workload locks until commit (taken before adding them to any team)."""
        await lock_all(self.session, [supporter_lock(r) for r in refs])

    async def lock_month_counts(self, refs: Iterable[str], month: Month, case_id: str) -> dict[str, int]:
        """Lock these supporters' workload until commit, then count their cases in ``month`` (without ``case_id``).

        Counted from what is committed now (another instance may have assigned them since this transaction read
        its workload) and what this transaction queued. Every writer of team rows takes the same locks.
        """
        wanted = sorted(set(refs))
        await self.lock(wanted)
        fresh = Seen(month.since)
        fresh.rows.update(
            _row(*r) for r in await self.session.execute(TEAM_SINCE, {"refs": wanted, "since": month.since})
        )
        self._add_queued(fresh, set(wanted))
        counts, _ = fresh.counts(month, month.until, case_id)
        seen: Seen | None = self.session.info.get(MEMO)
        if seen is not None:  # keep the batch's copy true: these rows are committed or queued
            seen.rows.update(r for r in fresh.rows if r[2] >= seen.floor)
        return {ref: counts.get(ref, 0) for ref in wanted}
