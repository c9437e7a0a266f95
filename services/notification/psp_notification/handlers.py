"""Notification handlers: events and coordinator/supporter actions, each inside one unit of work.

Handlers only write rows (cases, assignments, pages) and queue status events in the outbox; the
dispatcher delivers pages later, so a crash never loses or doubles a page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events.matching import SupporterMatched, SupporterUnmatched
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import EncounterCounts, OutreachStatus, OutreachStatusChanged
from psp_notification.adapters.repository import Repository
from psp_notification.domain.model import (
    COORDINATOR,
    OPEN_STATES,
    AssignmentState,
    PageState,
    Purpose,
    page_key,
    unique_candidates,
)
from psp_notification.settings import NotificationSettings

Row = dict[str, Any]


class ActionError(Exception):
    """An action that cannot be done: HTTP status, field and reason."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.field, self.reason = status, field, reason


async def record_status(
    uow: UnitOfWork,
    repo: Repository,
    ctx: Row,
    status: OutreachStatus,
    now: datetime,
    *,
    assignment_id: str | None = None,
    supporter_ref: str | None = None,
    channel: str | None = None,
    detail: str | None = None,
    set_case: bool = True,
    encounter: EncounterCounts | None = None,
) -> None:
    """Log a lifecycle change, move the case's status and queue OutreachStatusChanged (pseudonymized)."""
    event = OutreachStatusChanged(
        occurred_at=now,
        correlation_id=UUID(ctx["correlation_id"]),
        case_id=UUID(ctx["case_id"]),
        assignment_id=UUID(assignment_id) if assignment_id else None,
        status=status,
        facility=ctx["facility"],
        unit=ctx["unit"],
        urgency=ctx.get("urgency"),
        supporter_ref=supporter_ref,
        channel=channel,
        detail=detail[:300] if detail else None,
        encounter=encounter,
    )
    uow.publish(topics.OUTREACH_STATUS, event)
    await repo.log_status(
        event_id=str(event.event_id),
        case_id=ctx["case_id"],
        assignment_id=assignment_id,
        status=status.value,
        supporter_ref=supporter_ref,
        channel=channel,
        detail=event.detail,
        at=now,
    )
    if set_case:
        await repo.update_case(ctx["case_id"], status=status.value, updated_at=now)


async def new_page(
    repo: Repository,
    *,
    scope: str,
    case_id: str,
    assignment_id: str | None,
    recipient: str,
    purpose: Purpose,
    urgency: str | None,
    due_at: datetime,
    now: datetime,
    key_suffix: str = "",
) -> bool:
    """Insert a pending page; False if that (scope, recipient, purpose) was paged before."""
    return await repo.insert_page(
        idempotency_key=page_key(scope, recipient, purpose.value + key_suffix),
        assignment_id=assignment_id,
        case_id=case_id,
        recipient_ref=recipient,
        purpose=purpose.value,
        urgency=urgency,
        state=PageState.PENDING.value,
        attempts=0,
        due_at=due_at,
        created_at=now,
    )


async def _ensure_case(
    repo: Repository, event: SupporterMatched | SupporterUnmatched, status: str, now: datetime
) -> Row:
    case = await repo.case(str(event.case_id))
    if case is None:
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
            status=status,
            created_at=now,
            updated_at=now,
        )
        case = await repo.case(str(event.case_id))
    assert case is not None
    return case


async def on_outreach_requested(event: OutreachRequested, uow: UnitOfWork, now: datetime) -> None:
    """Record the request (flagged event for the safety-call feeds) and publish 'requested'."""
    repo = Repository(uow.session)
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
    # New: inserted with status 'requested'. Known (its match arrived first): the request's facts are set and
    # the case keeps its correlation id, creation time and the later status it already has.
    await repo.upsert_case(
        {
            "case_id": str(event.case_id),
            "correlation_id": str(event.correlation_id),
            "status": OutreachStatus.REQUESTED.value,
            "created_at": now,
            **values,
        },
        on_update=list(values),
    )
    ctx = {"case_id": str(event.case_id), "correlation_id": str(event.correlation_id), **values}
    await record_status(uow, repo, ctx, OutreachStatus.REQUESTED, now, set_case=False)


async def on_supporter_matched(
    event: SupporterMatched, uow: UnitOfWork, settings: NotificationSettings, now: datetime
) -> None:
    """Create the assignment and a pending page for the primary; a repeated assignment id pages nobody."""
    repo = Repository(uow.session)
    case = await _ensure_case(repo, event, OutreachStatus.ASSIGNED.value, now)
    candidates = unique_candidates(event.primary.supporter_ref, [b.supporter_ref for b in event.backups])
    aid = str(event.assignment_id)
    inserted = await repo.insert_assignment(
        assignment_id=aid,
        case_id=case["case_id"],
        correlation_id=case["correlation_id"],
        facility=event.facility,
        unit=event.unit,
        urgency=event.urgency.value,
        candidates=candidates,
        supported=list(event.supported),
        next_index=1,
        state=AssignmentState.PAGING.value,
        matched_at=now,
        overdue_escalated=False,
        contact_deadline=now + timedelta(hours=settings.contact_deadline_hours),
    )
    if not inserted:
        return
    named = (event.primary, *event.backups, *event.co_facilitators)
    await repo.link_contacts({c.supporter_ref: c.aliases for c in named})  # the newest channels, after a rotation
    await new_page(
        repo,
        scope=aid,
        case_id=case["case_id"],
        assignment_id=aid,
        recipient=candidates[0],
        purpose=Purpose.PAGE,
        urgency=event.urgency.value,
        due_at=now,
        now=now,
    )
    ctx = {**case, "urgency": event.urgency.value}
    await record_status(
        uow,
        repo,
        ctx,
        OutreachStatus.ASSIGNED,
        now,
        assignment_id=aid,
        supporter_ref=candidates[0],
        detail="primary supporter",
    )


async def on_supporter_unmatched(event: SupporterUnmatched, uow: UnitOfWork, now: datetime) -> None:
    """Nobody eligible: publish 'unmatched' and page the coordinator."""
    repo = Repository(uow.session)
    case = await _ensure_case(repo, event, OutreachStatus.UNMATCHED.value, now)
    cid = case["case_id"]
    await new_page(
        repo,
        scope=f"case:{cid}",
        case_id=cid,
        assignment_id=None,
        recipient=COORDINATOR,
        purpose=Purpose.UNMATCHED,
        urgency=event.urgency.value,
        due_at=now,
        now=now,
    )
    await record_status(
        uow,
        repo,
        {**case, "urgency": event.urgency.value},
        OutreachStatus.UNMATCHED,
        now,
        detail="; ".join(event.reasons) or None,
    )


async def advance(uow: UnitOfWork, repo: Repository, a: Row, now: datetime, reason: str) -> None:
    """Page the next backup not paged before; with none left, escalate to the coordinator."""
    aid = a["assignment_id"]
    paged = {p["recipient_ref"] for p in await repo.assignment_pages(aid) if p["purpose"] == Purpose.PAGE.value}
    candidates: list[str] = a["candidates"]
    i = a["next_index"]
    while i < len(candidates) and candidates[i] in paged:
        i += 1
    if i < len(candidates):
        await new_page(
            repo,
            scope=aid,
            case_id=a["case_id"],
            assignment_id=aid,
            recipient=candidates[i],
            purpose=Purpose.PAGE,
            urgency=a["urgency"],
            due_at=now,
            now=now,
        )
        await repo.update_assignment(aid, next_index=i + 1, state=AssignmentState.PAGING.value)
        await record_status(
            uow,
            repo,
            a,
            OutreachStatus.ASSIGNED,
            now,
            assignment_id=aid,
            supporter_ref=candidates[i],
            detail=f"backup supporter after {reason}",
        )
        return
    await repo.update_assignment(aid, next_index=i, state=AssignmentState.ESCALATED.value)
    await new_page(
        repo,
        scope=aid,
        case_id=a["case_id"],
        assignment_id=aid,
        recipient=COORDINATOR,
        purpose=Purpose.ESCALATION,
        urgency=a["urgency"],
        due_at=now,
        now=now,
    )
    await record_status(
        uow,
        repo,
        a,
        OutreachStatus.ESCALATED,
        now,
        assignment_id=aid,
        detail=f"all supporters exhausted ({reason}); coordinator paged",
    )


async def _open_assignment(repo: Repository, assignment_id: str) -> Row:
    a = await repo.assignment(assignment_id)
    if a is None:
        raise ActionError(404, "assignment_id", "no such assignment")
    return a


async def contacted(uow: UnitOfWork, assignment_id: str, settings: NotificationSettings, now: datetime) -> str:
    """Contact was made: stop paging, schedule follow-up check-in reminders."""
    repo = Repository(uow.session)
    a = await _open_assignment(repo, assignment_id)
    if a["contacted_at"] is not None:
        return "already contacted"
    if a["state"] not in {s.value for s in OPEN_STATES}:
        raise ActionError(409, "assignment_id", f"the assignment is {a['state']}")
    await mark_contacted(uow, repo, a, settings, now, now)
    await uow.commit()
    return "contacted"


async def mark_contacted(
    uow: UnitOfWork, repo: Repository, a: Row, settings: NotificationSettings, contact_at: datetime, now: datetime
) -> None:
    """Contact made at ``contact_at``: stop paging, schedule the check-ins, publish 'contacted' (no commit)."""
    assignment_id = a["assignment_id"]
    await repo.update_assignment(assignment_id, state=AssignmentState.CONTACTED.value, contacted_at=contact_at)
    await repo.cancel_pending(assignment_id, [Purpose.PAGE.value])
    who = a["acknowledged_by"] or COORDINATOR
    for hours in settings.checkin_hours:
        await new_page(
            repo,
            scope=assignment_id,
            case_id=a["case_id"],
            assignment_id=assignment_id,
            recipient=who,
            purpose=Purpose.CHECKIN,
            urgency=a["urgency"],
            due_at=contact_at + timedelta(hours=hours),
            now=now,
            key_suffix=f"-{hours:g}h",
        )
    await record_status(
        uow, repo, a, OutreachStatus.CONTACTED, now, assignment_id=assignment_id, supporter_ref=a["acknowledged_by"]
    )


async def close(uow: UnitOfWork, assignment_id: str, now: datetime) -> str:
    """The outreach is finished: cancel every pending page (reminders included)."""
    repo = Repository(uow.session)
    a = await _open_assignment(repo, assignment_id)
    if a["state"] == AssignmentState.CLOSED.value:
        return "already closed"
    await repo.update_assignment(assignment_id, state=AssignmentState.CLOSED.value, closed_at=now)
    await repo.cancel_pending(assignment_id, [p.value for p in Purpose])
    await record_status(
        uow, repo, a, OutreachStatus.CLOSED, now, assignment_id=assignment_id, supporter_ref=a["acknowledged_by"]
    )
    await uow.commit()
    return "closed"
