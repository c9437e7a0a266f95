"""When the dispatcher next has something to do: the earliest future due time of a page and of a timer.

Only instants after the round's ``now`` count: what was due by then was handled by that round (or failed and is
retried at the loop's cap), so a stuck row can never make a loop spin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_notification.adapters.orm import assignments, pages
from psp_notification.domain.model import PageState, Purpose


async def _earliest(session: AsyncSession, *queries: Any) -> datetime | None:
    found = [t for q in queries if (t := aware((await session.execute(q)).scalar())) is not None]
    return min(found, default=None)


async def next_page_due(session: AsyncSession, after: datetime) -> datetime | None:
    """When a pending page falls due or a claimed page's lease runs out, after ``after`` (None: nothing planned)."""
    due = select(func.min(pages.c.due_at)).where(pages.c.state == PageState.PENDING.value, pages.c.due_at > after)
    lease = select(func.min(pages.c.lease_until)).where(
        pages.c.state == PageState.SENDING.value, pages.c.lease_until > after
    )
    return await _earliest(session, due, lease)


async def next_timer_due(session: AsyncSession, after: datetime, open_states: list[str]) -> datetime | None:
    """The next ack window or contact deadline to run out after ``after`` (None: none pending)."""
    ack = select(func.min(pages.c.ack_deadline)).where(
        pages.c.purpose == Purpose.PAGE.value,
        pages.c.state == PageState.SENT.value,
        pages.c.response.is_(None),
        pages.c.ack_deadline > after,
    )
    contact = select(func.min(assignments.c.contact_deadline)).where(
        assignments.c.state.in_(open_states),
        assignments.c.overdue_escalated.is_(False),
        assignments.c.contact_deadline > after,
    )
    return await _earliest(session, ack, contact)
