"""Matching's retention purge (run by ``psp_common.retention.Retention``).

Purged, a configurable time after the outreach closed: who was supported (case people and roles, the
assignments' supported lists and the continuity index), the ranked candidate lists and the match notes.
Kept: the case row (facility, unit, urgency, tier, mode, times) and who was on the team, which the monthly
cap and fairness count; supporters are the program's own volunteers, the confidential link is whom they
supported.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from psp_common.db import UnitOfWork
from psp_matching.adapters.orm import assignments, cases, supported


async def purge_closed(uow: UnitOfWork, now: datetime, cutoff: datetime, batch: int) -> list[str]:
    """Anonymize up to ``batch`` cases closed at or before ``cutoff``; commit; return their ids."""
    s = uow.session
    due = (
        select(cases.c.case_id)
        .where(cases.c.closed_at <= cutoff, cases.c.purged_at.is_(None))
        .order_by(cases.c.closed_at)
        .limit(batch)
    )
    ids = list((await s.execute(due)).scalars())
    if not ids:
        return []
    of_cases = select(assignments.c.assignment_id).where(assignments.c.case_id.in_(ids))
    await s.execute(delete(supported).where(supported.c.assignment_id.in_(of_cases)))
    await s.execute(update(assignments).where(assignments.c.case_id.in_(ids)).values(supported=[], candidates=[]))
    await s.execute(
        update(cases)
        .where(cases.c.case_id.in_(ids))
        .values(people=[], roles={}, aliases=None, reasons=[], purged_at=now)
    )
    await uow.commit()
    return ids
