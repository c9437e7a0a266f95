"""Consumed events, set-based: a batch of OutreachRequested, SupporterMatched or SupporterUnmatched is handled in one
unit of work with a constant number of statements (each table read at most once and written once), and leaves
the same rows and outbox events as handling its events one after another, in order.

Events of one case in a batch are folded in memory in that order: the first stores the case, a later one sees
what the earlier ones stored (its correlation id, the request's facts). A repeated assignment id pages nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from psp_common.db import UnitOfWork
from psp_common.events.matching import SupporterMatched, SupporterUnmatched
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus
from psp_notification.adapters.assignments import AssignmentRepository, EventWriter
from psp_notification.adapters.contacts import Aliases, link_contacts_many
from psp_notification.adapters.repository import Repository
from psp_notification.colleagues import unknown_statuses
from psp_notification.domain.approaches import approach_of
from psp_notification.domain.assignment import Assignment
from psp_notification.domain.events import CaseRef, Event, PageQueued, StatusChanged
from psp_notification.domain.model import COORDINATOR, Page, PageState, Purpose, page_key, unique_candidates
from psp_notification.domain.offers import Offer
from psp_notification.settings import NotificationSettings

Placed: TypeAlias = SupporterMatched | SupporterUnmatched


async def requested(events: Sequence[OutreachRequested], uow: UnitOfWork, now: datetime) -> None:
    """Record each request (flagged, for the safety-call feeds) and publish 'requested' for each.

    New case: inserted with status 'requested'. Known (its match arrived first): the request's facts are set and
    the case keeps its correlation id, creation time and the later status it already has.
    """
    merged: dict[str, tuple[dict[str, Any], set[str]]] = {}  # case id -> row, columns a stored case takes
    statuses: list[Event] = []
    asked: list[tuple[OutreachRequested, CaseRef]] = []
    for event in events:
        case_id, values = str(event.case_id), _request_values(event, now)
        if case_id in merged:  # a later request of the same case overwrites what the earlier one set
            row, taken = merged[case_id]
            row.update(values)
            taken.update(values)
        else:
            key = {"case_id": case_id, "correlation_id": str(event.correlation_id)}
            merged[case_id] = ({**key, "status": OutreachStatus.REQUESTED.value, "created_at": now, **values},
                               set(values))  # fmt: skip
        case = CaseRef(case_id, str(event.correlation_id), event.facility, event.unit, event.urgency.value)
        statuses.append(StatusChanged(case, OutreachStatus.REQUESTED, now, moves_case=False))
        asked.append((event, case))
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # one statement per set of columns (at most two)
    for row, taken in merged.values():
        shapes.setdefault(tuple(sorted(taken)), []).append(row)
    repo = Repository(uow.session)
    for columns, rows in shapes.items():
        await repo.upsert_cases(rows, columns)
    statuses.extend(await unknown_statuses(uow, asked, now))  # someone not in the directory: the coordinator is asked
    await EventWriter(uow).write(statuses)


def _request_values(event: OutreachRequested, now: datetime) -> dict[str, Any]:
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
    return values


async def matched(
    events: Sequence[SupporterMatched], uow: UnitOfWork, settings: NotificationSettings, now: datetime
) -> None:
    """Create each assignment, paging its primary; a repeated assignment id pages nobody."""
    cases = await _ensure_cases(Repository(uow.session), events, OutreachStatus.ASSIGNED, now)
    within = timedelta(hours=settings.contact_deadline_hours)
    fresh: dict[str, tuple[Assignment, SupporterMatched]] = {}
    for event, case in zip(events, cases, strict=True):
        assignment_id = str(event.assignment_id)
        if assignment_id not in fresh:  # the same assignment again in this batch: stored once, as the first
            candidates = unique_candidates(event.primary.supporter_ref, [b.supporter_ref for b in event.backups])
            a = Assignment.match(assignment_id, case, candidates, event.supported, now, within)
            fresh[assignment_id] = (a, event)
    added = {a.assignment_id for a in await AssignmentRepository(uow).add_many([a for a, _ in fresh.values()])}
    named: list[Aliases] = [
        {c.supporter_ref: c.aliases for c in (e.primary, *e.backups, *e.co_facilitators)}
        for aid, (_, e) in fresh.items()
        if aid in added
    ]
    await link_contacts_many(uow.session, named)  # the newest channels, after a rotation


async def unmatched(events: Sequence[SupporterUnmatched], uow: UnitOfWork, now: datetime) -> None:
    """Nobody eligible: publish 'unmatched' and page the coordinator (once per case)."""
    cases = await _ensure_cases(Repository(uow.session), events, OutreachStatus.UNMATCHED, now)
    out: list[Event] = []
    for event, case in zip(events, cases, strict=True):
        key = page_key(f"case:{case.case_id}", COORDINATOR, Purpose.UNMATCHED.value)
        page = Page(key, None, case.case_id, COORDINATOR, Purpose.UNMATCHED, case.urgency, PageState.PENDING, now,
                    now)  # fmt: skip
        detail = "; ".join(event.reasons) or None
        out += [PageQueued(page), StatusChanged(case, OutreachStatus.UNMATCHED, now, detail=detail)]
    await EventWriter(uow).write(out)


async def _ensure_cases(
    repo: Repository, events: Sequence[Placed], status: OutreachStatus, now: datetime
) -> list[CaseRef]:
    """Each event's case, stored first if its request has not arrived yet: the first event of a
    case stores it, and every event of the case carries the correlation id it was stored with."""
    ids = [str(e.case_id) for e in events]  # each event's ids as text once (UUID.__str__ is Python code)
    rows: dict[str, dict[str, Any]] = {}
    for case_id, event in zip(ids, events, strict=True):
        if case_id not in rows:
            rows[case_id] = _case_row(case_id, event, status, now)
    await repo.insert_cases(list(rows.values()))
    stored = await repo.correlations_of(rows)
    return [_case_ref(case_id, e, stored.get(case_id)) for case_id, e in zip(ids, events, strict=True)]


def _case_ref(case_id: str, event: Placed, correlation: str | None) -> CaseRef:
    """The case an event's status changes carry: the stored correlation id, the event's own facts."""
    correlation = correlation or str(event.correlation_id)
    return CaseRef(case_id, correlation, event.facility, event.unit, event.urgency.value)


def _case_row(case_id: str, event: Placed, status: OutreachStatus, now: datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "correlation_id": str(event.correlation_id),
        "facility": event.facility,
        "unit": event.unit,
        "urgency": event.urgency.value,
        "mode": event.mode.value,
        "triggers": [],
        "flagged": False,
        "occurred_at": event.occurred_at.astimezone(UTC),
        "status": status.value,
        "created_at": now,
        "updated_at": now,
    }
