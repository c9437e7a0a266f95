"""Hand back: the supporter who holds a case gives it back; load -> the domain decides -> save, one transaction.

Effects, committed together: the assignment is nobody's again, its pending supporter pages and check-in
reminders are cancelled, ``handed_back`` is published on psp.outreach-status.v1, and the next backup not paged
before is paged, or the coordinator when none is left (``advance``). The supporter's case page then withholds
the colleague.
"""

from __future__ import annotations

from datetime import datetime

from psp_common.db import UnitOfWork
from psp_common.events.status import OutreachStatus
from psp_notification.adapters.repository import Repository
from psp_notification.domain.handback import NotHeld, NotTheHolder, check_may_hand_back
from psp_notification.domain.model import Purpose
from psp_notification.handlers import advance, record_status


async def hand_back(uow: UnitOfWork, assignment_id: str, supporter_ref: str, now: datetime) -> None:
    """Give the assignment back (HandBackError when the supporter may not); commits."""
    repo = Repository(uow.session)
    a = await repo.assignment(assignment_id)
    if a is None:
        raise NotTheHolder("token", "no such case of yours")
    check_may_hand_back(supporter_ref, a["state"], a["acknowledged_by"])
    if not await repo.update_assignment(assignment_id, a["state"], acknowledged_by=None, acknowledged_at=None):
        raise NotHeld("token", "the case changed meanwhile: reload the page")
    await repo.cancel_pending(assignment_id, [Purpose.PAGE.value, Purpose.CHECKIN.value])
    await record_status(
        uow, repo, a, OutreachStatus.HANDED_BACK, now, assignment_id=assignment_id, supporter_ref=supporter_ref
    )
    await advance(uow, repo, a, now, "a hand back")
    await uow.commit()
