"""Supporters' workload: their cases in a calendar month (the cap) and in a recent window of days (fairness).

Counted as ``workload_index`` defines, from the tallies ``adapters.tally`` keeps: a question reads O(supporters)
rows, however many team rows history holds. The per-event path asks the database each time (its own writes are
in the tallies already); a consumed batch reads once (``read_batch``) and counts its own rows in memory
(``workload_index.Workload``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.locks import lock_all
from psp_matching.adapters import tally
from psp_matching.adapters.workload_index import (
    Known,
    Month,
    Row,
    Tallies,
    Workload,
    day_of,
    month_of,
    month_start,
)

__all__ = ["Known", "Month", "Row", "Tallies", "Workload", "WorkloadRepository", "day_of", "month_of", "month_start"]


def supporter_lock(ref: str) -> str:
    """Advisory lock name of one supporter's workload: held from counting their cases to the commit."""
    return f"psp.matching.supporter:{ref}"


class WorkloadRepository:
    """Counts of supporters' cases, and the locks that keep the monthly cap across transactions."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def counts(
        self, month: Month, recent_since: datetime, exclude_case: str, new_case: bool = False
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Distinct cases per supporter in ``month`` (without ``exclude_case``) and from ``recent_since``'s day.

        Two queries of O(supporters) rows, and (not for a new case, which has no team rows) the case's own rows.
        """
        in_month, recent = await tally.month_and_recent(self.session, month.first, day_of(recent_since))
        out = set() if new_case else await self._refs_in(exclude_case, month)
        return {r: m for r, n in in_month.items() if (m := n - (r in out)) > 0}, {
            r: n for r, n in recent.items() if n > 0
        }

    async def _refs_in(self, case_id: str, month: Month) -> set[str]:
        return {ref for _, (ref, _c, at) in await tally.case_rows(self.session, [case_id]) if month.holds(at)}

    async def read_batch(self, case_ids: Iterable[str], months: Iterable[date], floor: date, tz: str) -> Workload:
        """For a batch: every supporter's tallies (these months; days from ``floor`` on) and the batch's stored
        cases' team rows (so that its own rows count once per case and month)."""
        stored = [row for _, row in await tally.case_rows(self.session, case_ids)]
        months = frozenset(months)
        return Workload(await tally.read(self.session, months, floor), stored, months, floor, tz)

    async def lock(self, refs: Iterable[str]) -> None:
        """Hold these supporters' workload locks until commit (taken before adding them to any team)."""
        await lock_all(self.session, [supporter_lock(r) for r in refs])

    async def lock_and_read(self, refs: Iterable[str], months: Iterable[date], floor: date) -> Tallies:
        """Lock these supporters' workload until commit, then read their tallies afresh (another instance may
        have given them cases since this transaction read them; after the lock none can)."""
        wanted = sorted(set(refs))
        await self.lock(wanted)
        return await tally.read_of(self.session, wanted, months, floor)

    async def lock_month_counts(self, refs: Iterable[str], month: Month, case_id: str) -> dict[str, int]:
        """Lock these supporters' workload until commit, then count their cases in ``month`` (without ``case_id``).

        Counted from what is committed now (another instance may have assigned them since this transaction read
        its workload) and what this transaction wrote. Every writer of team rows takes the same locks.
        """
        wanted = sorted(set(refs))
        await self.lock(wanted)
        got = await tally.read_of(self.session, wanted, [month.first], None)
        out = await self._refs_in(case_id, month)
        return {ref: got.months.get(month.first, {}).get(ref, 0) - (ref in out) for ref in wanted}
