"""Triage over HTTP (coordinators): list and count held reports, dispatch them with staff attached, or dismiss them."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from psp_common.auth import AUTH_RESPONSES, Principal, Scope, require
from psp_common.events.intake import MAX_STAFF
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel, Involvement
from psp_common.http import ERROR_RESPONSES, ErrorResponse, FieldError, as_utc
from psp_listener import handlers
from psp_listener.adapters.common import Person
from psp_listener.adapters.schemas import InvolvedStaff, Strict
from psp_listener.adapters.triage_repo import TriageFilter, TriageRepository, TriageRow
from psp_listener.domain.triage import DismissReason, NotOpen, TriageReason, TriageStatus

COORDINATOR = require(Scope.COORDINATOR)
router = APIRouter(dependencies=[Depends(COORDINATOR)], responses=AUTH_RESPONSES, tags=["triage"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "Unknown triage item."}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "Already decided another way, or superseded."}
}


class TriageView(BaseModel):
    """A held report: what the PSP may know of it (no names, no patient data) and the decision taken."""

    id: str
    status: TriageStatus
    reasons: list[TriageReason]
    incident_ref: str = Field(description="Opaque reference of the source report.")
    report_version: int
    source_kind: str
    source_system: str | None = Field(None, description="Sending system, to look the report up there.")
    source_id: str | None = Field(None, description="Report id in the sending system; cleared once decided.")
    occurred_at: datetime
    received_at: datetime
    facility: str | None
    unit: str
    event_class: EventClass
    category: str | None
    harm_level: HarmLevel | None
    cis_flags: list[CisTrigger]
    staff_identified: int = Field(description="Staff already identified (pseudonymized) in the report.")
    unidentified: list[Involvement] = Field(description="Involvement of each person named without an id.")
    decided_by: str | None = Field(None, description="Token subject of the coordinator who decided.")
    decided_at: datetime | None = None
    dismiss_reason: DismissReason | None = None
    event_id: str | None = Field(None, description="The IncidentObserved published on dispatch.")
    attached: int = Field(0, description="Staff attached by the coordinator on dispatch.")
    rules: list[str] = Field([], description="Ids of the rules that routed it here (reason 'rules').")


class TriagePage(BaseModel):
    """A page of items and the counts of the whole queue."""

    items: list[TriageView]
    total: int = Field(description="Items matching the filters.")
    counts: dict[str, int] = Field(description="Items per status (all items).")


class TriageStats(BaseModel):
    """Every decision counted."""

    by_status: dict[str, int]
    open_by_reason: dict[str, int] = Field(description="Open items per reason (an item may have several).")
    dismissed_by_reason: dict[str, int]
    staff_attached: int = Field(description="Staff attached over all dispatches.")
    by_reason: dict[str, dict[str, int]] = Field(
        {}, description="Every item per reason, then per status (open, dispatched, dismissed, superseded)."
    )


class DispatchIn(Strict):
    """Staff to attach (ids as the directory knows them; pseudonymized like intake) and a facility if none."""

    staff: list[InvolvedStaff] = Field(
        [],
        max_length=MAX_STAFF,
        description="Staff to attach; may be empty when the item already identifies staff (e.g. routed by rules).",
    )
    facility: str | None = Field(None, min_length=1, max_length=64, description="Facility, if the item has none.")
    unit: str | None = Field(None, min_length=1, max_length=64, description="Unit, replacing a defaulted one.")


class DismissIn(Strict):
    """Why the item is closed without outreach."""

    reason: DismissReason


def view(row: TriageRow) -> TriageView:
    """The API shape of a row."""
    item, draft, decision = row.item, row.draft, row.item.decision
    return TriageView(
        id=item.id,
        status=item.status,
        reasons=list(item.reasons),
        incident_ref=item.incident_ref,
        report_version=item.report_version,
        source_kind=draft.source_kind.value,
        source_system=draft.source_system,
        source_id=draft.source_id if item.status is TriageStatus.OPEN else None,
        occurred_at=draft.occurred_at,
        received_at=item.received_at,
        facility=draft.facility,
        unit=draft.unit,
        event_class=draft.event_class,
        category=draft.category,
        harm_level=draft.harm_level,
        cis_flags=list(draft.cis_flags),
        staff_identified=len(draft.staff),
        unidentified=list(draft.unidentified),
        decided_by=decision.by if decision else None,
        decided_at=decision.at if decision else None,
        dismiss_reason=item.dismiss_reason,
        event_id=item.event_id,
        attached=item.attached,
        rules=list(draft.rules),
    )


def _error(status: int, detail: str, field: str, reason: str) -> JSONResponse:
    body = ErrorResponse(detail=detail, errors=[FieldError(field=field, reason=reason)])
    return JSONResponse(body.model_dump(), status_code=status)


def _answer(row: TriageRow, status: int = 200) -> JSONResponse:
    return JSONResponse(view(row).model_dump(mode="json"), status_code=status)


@router.get("/v1/triage", response_model=TriagePage, responses=ERROR_RESPONSES, summary="List held reports.")
async def list_triage(
    request: Request,
    status: TriageStatus | None = Query(None, description="Only items in this status."),
    reason: TriageReason | None = Query(None, description="Only items held for this reason."),
    facility: str | None = Query(None, max_length=64, description="Only this facility."),
    since: datetime | None = Query(None, description="Received at or after (UTC if no offset)."),
    until: datetime | None = Query(None, description="Received before (UTC if no offset)."),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> TriagePage:
    """Newest first, with the number of matching items and the queue's counts per status."""
    f = TriageFilter(status, reason, facility, as_utc(since), as_utc(until))
    async with request.app.state.container.runtime.session() as session:
        repo = TriageRepository(session)
        rows, total = await repo.page(f, limit, offset)
        counts = await repo.counts("status")
    return TriagePage(items=[view(r) for r in rows], total=total, counts=counts)


@router.get("/v1/triage/stats", response_model=TriageStats, summary="Counts of held reports and decisions.")
async def triage_stats(request: Request) -> TriageStats:
    """Items per status, open items per reason, dismissals per reason, staff attached."""
    async with request.app.state.container.runtime.session() as session:
        repo = TriageRepository(session)
        by_status = await repo.counts("status")
        open_reasons = await repo.counts("reasons", TriageFilter(status=TriageStatus.OPEN))
        dismissed = await repo.counts("dismiss_reason")
        attached = await repo.total_attached()
        pairs = await repo.reason_status_counts()
    per_reason: Counter[str] = Counter()
    for joined, n in open_reasons.items():
        for r in joined.split(","):
            per_reason[r] += n
    by_reason: dict[str, dict[str, int]] = {}
    for (joined, status), n in pairs.items():
        for r in joined.split(","):
            by_reason.setdefault(r, {}).setdefault(status, 0)
            by_reason[r][status] += n
    return TriageStats(
        by_status=by_status,
        open_by_reason=dict(per_reason),
        dismissed_by_reason=dismissed,
        staff_attached=attached,
        by_reason=by_reason,
    )


@router.get("/v1/triage/{item_id}", response_model=TriageView, responses=NOT_FOUND, summary="One held report.")
async def get_triage(item_id: str, request: Request) -> Any:
    """The item with its decision, if any."""
    async with request.app.state.container.runtime.session() as session:
        row = await TriageRepository(session).get(item_id[:36])
    return _answer(row) if row else _error(404, "unknown triage item", "item_id", "no such item")


@router.post(
    "/v1/triage/{item_id}:dispatch",
    response_model=TriageView,
    status_code=202,
    responses={
        200: {"model": TriageView, "description": "Already dispatched: nothing published again."},
        **NOT_FOUND,
        **CONFLICT,
        **ERROR_RESPONSES,
    },
    summary="Attach staff and send the incident down the normal path (rules -> matching -> notification).",
)
async def dispatch_triage(
    item_id: str, body: DispatchIn, request: Request, principal: Principal = Depends(COORDINATOR)
) -> Any:
    """Publish one IncidentObserved with the attached staff pseudonymized; 202 when published, 200 if it was."""
    c = request.app.state.container
    people = [Person(p.staff_id, p.role, p.involvement) for p in body.staff]
    try:
        async with c.runtime.uow() as uow:
            row, published = await handlers.dispatch(
                uow, item_id[:36], people, c.pseudo, principal.subject, (body.facility, body.unit)
            )
    except handlers.UnknownItem:
        return _error(404, "unknown triage item", "item_id", "no such item")
    except NotOpen as exc:
        return _error(409, "triage item already decided", "item_id", f"item is {exc.status.value}")
    except handlers.FacilityNeeded:
        return _error(422, "request does not match the contract", "facility", "the item names no facility")
    except handlers.StaffNeeded:
        return _error(422, "request does not match the contract", "staff", "the item identifies nobody: attach staff")
    return _answer(row, 202 if published else 200)


@router.post(
    "/v1/triage/{item_id}:dismiss",
    response_model=TriageView,
    responses={**NOT_FOUND, **CONFLICT, **ERROR_RESPONSES},
    summary="Close a held report without outreach, with a reason from a closed list.",
)
async def dismiss_triage(
    item_id: str, body: DismissIn, request: Request, principal: Principal = Depends(COORDINATOR)
) -> Any:
    """Record who dismissed it, when and why; dismissing again changes nothing."""
    try:
        async with request.app.state.container.runtime.uow() as uow:
            row = await handlers.dismiss(uow, item_id[:36], body.reason, principal.subject)
    except handlers.UnknownItem:
        return _error(404, "unknown triage item", "item_id", "no such item")
    except NotOpen as exc:
        return _error(409, "triage item already decided", "item_id", f"item is {exc.status.value}")
    return _answer(row)
