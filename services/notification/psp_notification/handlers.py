"""Notification handlers: events, timers and coordinator/supporter actions, each load -> the ``Assignment``
decides -> save, inside one unit of work.

Handlers only write rows (cases, assignments, pages) and queue status events in the outbox; the dispatcher
delivers pages later, so a crash never loses or doubles a page. Refusals are domain errors; the entrypoints map
them to status codes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from psp_common.db import UnitOfWork
from psp_common.events.matching import SupporterMatched, SupporterUnmatched
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus
from psp_notification.adapters.assignments import AssignmentRepository, EventWriter
from psp_notification.adapters.repository import Repository
from psp_notification.domain.approaches import approach_of
from psp_notification.domain.assignment import Assignment
from psp_notification.domain.errors import DomainError
from psp_notification.domain.events import CaseRef, PageQueued, StatusChanged
from psp_notification.domain.model import COORDINATOR, Page, PageState, Purpose, page_key, unique_candidates
from psp_notification.domain.offers import Offer
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


async def _ensure_case(
    repo: Repository, event: SupporterMatched | SupporterUnmatched, status: OutreachStatus, now: datetime
) -> CaseRef:
    """The event's case, stored first if the request has not arrived yet (it keeps its own correlation id)."""
    await repo.insert_case(
        case_id=str(event.case_id),
        correlation_id=str(event.correlation_id),
        facility=event.facility,
        unit=event.unit,
        urgency=event.urgency.value,
        mode=event.mode.value,
        triggers=[],
        flagged=False,
        occurred_at=event.occurred_at.astimezone(UTC),
        status=status.value,
        created_at=now,
        updated_at=now,
    )
    correlation = await repo.correlation_of(str(event.case_id))
    return CaseRef(str(event.case_id), correlation or str(event.correlation_id), event.facility, event.unit,
                   event.urgency.value)  # fmt: skip


async def on_outreach_requested(event: OutreachRequested, uow: UnitOfWork, now: datetime) -> None:
    """Record the request (flagged event for the safety-call feeds) and publish 'requested'."""
    values = {
        "facility": event.facility,
        "unit": event.unit,
        "urgency": event.urgency.value,
        "mode": event.mode.value,
        "triggers": [h.model_dump() for h in event.rules_fired],
        "flagged": True,
        "occurred_at": event.occurred_at.astimezone(UTC),
        "updated_at": now,
    }
    if event.referral is not None and event.change == "opened":  # a referral's own case (not an escalation)
        values["offer"] = Offer.OFFERED.value if event.referral.offer else None
        values["approach"] = approach_of(event.referral.kind.value, event.referral.contacts_referrer).value
    # New: inserted with status 'requested'. Known (its match arrived first): the request's facts are set and
    # the case keeps its correlation id, creation time and the later status it already has.
    key = {"case_id": str(event.case_id), "correlation_id": str(event.correlation_id)}
    row = {**key, "status": OutreachStatus.REQUESTED.value, "created_at": now, **values}
    await Repository(uow.session).upsert_case(row, on_update=list(values))
    case = CaseRef(key["case_id"], key["correlation_id"], event.facility, event.unit, event.urgency.value)
    await EventWriter(uow).write([StatusChanged(case, OutreachStatus.REQUESTED, now, moves_case=False)])


async def on_supporter_matched(
    event: SupporterMatched, uow: UnitOfWork, settings: NotificationSettings, now: datetime
) -> None:
    """Create the assignment, paging the primary; a repeated assignment id pages nobody."""
    repo = Repository(uow.session)
    case = await _ensure_case(repo, event, OutreachStatus.ASSIGNED, now)
    candidates = unique_candidates(event.primary.supporter_ref, [b.supporter_ref for b in event.backups])
    within = timedelta(hours=settings.contact_deadline_hours)
    a = Assignment.match(str(event.assignment_id), case, candidates, event.supported, now, within)
    if not await AssignmentRepository(uow).add(a):
        return
    named = (event.primary, *event.backups, *event.co_facilitators)
    await repo.link_contacts({c.supporter_ref: c.aliases for c in named})  # the newest channels, after a rotation


async def on_supporter_unmatched(event: SupporterUnmatched, uow: UnitOfWork, now: datetime) -> None:
    """Nobody eligible: publish 'unmatched' and page the coordinator."""
    case = await _ensure_case(Repository(uow.session), event, OutreachStatus.UNMATCHED, now)
    key = page_key(f"case:{case.case_id}", COORDINATOR, Purpose.UNMATCHED.value)
    page = Page(key, None, case.case_id, COORDINATOR, Purpose.UNMATCHED, case.urgency, PageState.PENDING, now, now)
    detail = "; ".join(event.reasons) or None
    await EventWriter(uow).write([PageQueued(page), StatusChanged(case, OutreachStatus.UNMATCHED, now, detail=detail)])


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
