"""Notification's retention purge (run by ``psp_common.retention.Retention``).

Purged: pseudonyms (assignment candidates, who acknowledged, the supported people, page recipients, status
history), free-text details and the pages' link tokens (hashes). Kept: the case row (facility, unit, urgency, triggers,
status, times) and assignment times, so ``/v1/stats`` still counts the case and its time to contact.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from psp_common.db import UnitOfWork
from psp_common.retention import PURGED
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.orm import assignments, cases, pages, status_log

CLOSED = "closed"


async def purge_closed(uow: UnitOfWork, now: datetime, cutoff: datetime, batch: int) -> list[str]:
    """Anonymize up to ``batch`` cases closed at or before ``cutoff``; commit; return their ids."""
    query = (
        select(cases.c.case_id)
        .where(cases.c.status == CLOSED, cases.c.updated_at <= cutoff, cases.c.purged_at.is_(None))
        .order_by(cases.c.updated_at)
        .limit(batch)
    )
    ids = list((await uow.session.execute(query)).scalars())
    if not ids:
        return []
    s = uow.session
    await LinkRepository(s).delete_for_cases(ids)
    await s.execute(
        update(assignments)
        .where(assignments.c.case_id.in_(ids))
        .values(candidates=[], supported=[], acknowledged_by=None)
    )
    await s.execute(
        update(pages).where(pages.c.case_id.in_(ids)).values(recipient_ref=PURGED, last_error=None, lease_owner=None)
    )
    await s.execute(update(status_log).where(status_log.c.case_id.in_(ids)).values(supporter_ref=None, detail=None))
    await s.execute(update(cases).where(cases.c.case_id.in_(ids)).values(purged_at=now))
    await uow.commit()
    return ids
