"""Retention: a configurable time after a case closes, its identifying data is purged; counts are kept.

Purged: supporter pseudonyms (assignment candidates, who acknowledged, page recipients, status history) and
free-text details. Kept: the case row (facility, unit, urgency, triggers, status, times) and assignment
times, so ``/v1/stats`` still counts the case and its time to contact.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update

from psp_common.db import UnitOfWork
from psp_notification.adapters.orm import assignments, cases, pages, status_log
from psp_notification.domain.model import Clock
from psp_notification.settings import NotificationSettings

log = logging.getLogger("psp.notification.retention")
PURGED = "purged"
CLOSED = "closed"


async def purge_closed(uow: UnitOfWork, now: datetime, retention_days: float, batch: int) -> list[str]:
    """Anonymize up to ``batch`` cases closed at least ``retention_days`` before ``now``; return their ids."""
    cutoff = now - timedelta(days=retention_days)
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
    await s.execute(
        update(assignments).where(assignments.c.case_id.in_(ids)).values(candidates=[], acknowledged_by=None)
    )
    await s.execute(
        update(pages).where(pages.c.case_id.in_(ids)).values(recipient_ref=PURGED, last_error=None, lease_owner=None)
    )
    await s.execute(update(status_log).where(status_log.c.case_id.in_(ids)).values(supporter_ref=None, detail=None))
    await s.execute(update(cases).where(cases.c.case_id.in_(ids)).values(purged_at=now))
    await uow.commit()
    return ids


class Retention:
    """The purge as a ``Runtime.background`` loop (clock injectable)."""

    def __init__(self, uow: Callable[[], UnitOfWork], settings: NotificationSettings, clock: Clock) -> None:
        self.uow, self.settings, self.clock = uow, settings, clock

    async def tick(self) -> int:
        """Purge every due case (in batches); return how many."""
        total = 0
        while True:
            async with self.uow() as uow:
                ids = await purge_closed(
                    uow, self.clock.now(), self.settings.retention_days, self.settings.retention_batch
                )
            total += len(ids)
            if len(ids) < self.settings.retention_batch:
                break
        if total:
            log.info("retention purged %d closed case(s)", total)
        return total

    async def run(self) -> None:
        """Purge, sleep ``retention_poll_s``, repeat until cancelled; failures are logged and retried."""
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention round failed; retrying")
            await asyncio.sleep(self.settings.retention_poll_s)
