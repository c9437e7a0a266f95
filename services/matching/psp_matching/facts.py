"""What a match is judged on, and at which instant.

A case from an OutreachRequested is judged at the instant rules requested it (``requested_at``; the envelope's
``produced_at`` on events from before that field): who is on shift, the monthly cap's month, the fairness and
continuity windows. So a replay, or a consumer that lags, decides what live processing did; a report filed
days late still goes to whoever is on shift when outreach was requested. The handling time (the clock) only
stamps bookkeeping (``updated_at``). A coordinator re-match is live and is judged at the clock's now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from psp_common.events.outreach import OutreachRequested
from psp_matching.adapters.cases import CaseRepository
from psp_matching.adapters.roster import RosterRepository
from psp_matching.adapters.workload import WorkloadRepository, month_of
from psp_matching.domain.model import Facts

if TYPE_CHECKING:
    from psp_matching.handlers import Deps


def requested_at(event: OutreachRequested) -> datetime:
    """The instant a case from ``event`` is judged at (UTC)."""
    return (event.requested_at or event.produced_at).astimezone(UTC)


async def gather_facts(
    roster: RosterRepository,
    repo: CaseRepository,
    case_id: str,
    people: frozenset[str],
    deps: Deps,
    at: datetime,
    new_case: bool = False,
) -> Facts:
    """Shifts, workload and history around a case as of ``at``, read in the handler's transaction (a new case has
    no team)."""
    s = deps.settings
    month, recent = await WorkloadRepository(roster.session).counts(
        month_of(at, s.cap_time_zone), at - timedelta(days=s.fairness_window_days), case_id, new_case
    )
    return Facts(
        now=at,
        on_shift=await roster.on_shift(at),
        month_counts=month,
        recent_counts=recent,
        on_case=frozenset() if new_case else await repo.team_on_case(case_id),
        supporting_person=await repo.supporting(people, at - timedelta(days=s.continuity_window_days)),
    )
