"""Notification handlers: timers and coordinator/supporter actions, each load -> the ``Assignment`` decides -> save,
inside one unit of work. Consumed events are handled set-based, a batch at a time (``psp_notification.consumed``).

Handlers only write rows (cases, assignments, pages) and queue status events in the outbox; the dispatcher
delivers pages later, so a crash never loses or doubles a page. Refusals are domain errors; the entrypoints map
them to status codes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from psp_common.db import UnitOfWork
from psp_notification.adapters.assignments import AssignmentRepository
from psp_notification.domain.assignment import Assignment
from psp_notification.domain.errors import DomainError
from psp_notification.domain.model import Page
from psp_notification.settings import NotificationSettings

Change = Callable[[Assignment], Any]


async def change(uow: UnitOfWork, assignment_id: str, act: Change) -> Any:
    """Load the assignment, let ``act`` call it, save the outcome and commit; ``act``'s result."""
    repo = AssignmentRepository(uow)
    a = await repo.get(assignment_id)
    result = act(a)
    await repo.save(a)
    await uow.commit()
    return result


async def contacted(uow: UnitOfWork, assignment_id: str, settings: NotificationSettings, now: datetime) -> str:
    """Contact was made: stop paging, schedule follow-up check-in reminders."""
    result: str = await change(uow, assignment_id, lambda a: a.mark_contacted(now, settings.checkin_hours))
    return result


async def close(uow: UnitOfWork, assignment_id: str, now: datetime) -> str:
    """The outreach is finished: cancel every pending page (reminders included)."""
    result: str = await change(uow, assignment_id, lambda a: a.close(now))
    return result


async def expire_page(uow: UnitOfWork, page: Page, now: datetime) -> bool:
    """Timer: the page's ack window passed; False when it was answered meanwhile (nothing changes)."""
    return await _timer(uow, page.assignment_id, lambda a: a.expire(int(page.id or 0), now))


async def escalate_overdue(uow: UnitOfWork, assignment_id: str, now: datetime) -> bool:
    """Timer: the contact deadline passed; False when the assignment moved on meanwhile (nothing changes)."""
    return await _timer(uow, assignment_id, lambda a: a.escalate(now))


async def _timer(uow: UnitOfWork, assignment_id: str | None, act: Change) -> bool:
    if assignment_id is None:
        return False
    try:
        await change(uow, assignment_id, act)
    except DomainError:  # found by the scan, then answered or settled before the lock: not due any more
        return False
    return True
