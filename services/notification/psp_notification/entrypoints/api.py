"""Notification HTTP API: contacts, page links, assignment lifecycle, deliveries, case status, safety calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from psp_common.auth import AUTH_RESPONSES, Principal, Scope, require
from psp_common.events.feed import SafetyCallFeedPublished
from psp_common.http import ERROR_RESPONSES, ErrorResponse
from psp_notification import handlers
from psp_notification.adapters.egress import EgressPolicy
from psp_notification.adapters.repository import Repository
from psp_notification.adapters.schemas import (
    ActionResult,
    CaseStatus,
    ContactIn,
    ContactOut,
    Deliveries,
    Delivery,
    StatusChange,
)
from psp_notification.domain.errors import DomainError
from psp_notification.entrypoints.api_self import owns_assignment, owns_case
from psp_notification.entrypoints.errors import error, refused
from psp_notification.feeds import build_feed, render_print

# Page links (/v1/pages/{token}/..., entrypoints/pages.py) are authorized by their token; these need a bearer.
router = APIRouter()
COORDINATOR = [Depends(require(Scope.COORDINATOR))]
OwnerOrCoordinator = Annotated[Principal, Depends(require(Scope.COORDINATOR, Scope.SUPPORTER))]
StaffId = Annotated[str, Path(min_length=1, max_length=128, description="Staff id (stored as its pseudonym).")]
Uuid = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$", description="UUID.")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    404: {"model": ErrorResponse, "description": "Unknown item."},
    409: {"model": ErrorResponse, "description": "Not possible in the current state."},
}
BEARER_RESPONSES = {**RESPONSES, **AUTH_RESPONSES}


async def _act(request: Request, action: Callable[[Any, Any], Awaitable[str]]) -> JSONResponse:
    c = request.app.state.container
    try:
        async with c.runtime.uow() as uow:
            result = await action(uow, c.clock.now())
    except DomainError as exc:
        return refused(exc)
    c.dispatcher.wake()
    return JSONResponse(ActionResult(result=result).model_dump())


@router.put(
    "/v1/contacts/{staff_id:path}",
    response_model=ContactOut,
    responses=BEARER_RESPONSES,
    tags=["contacts"],
    dependencies=COORDINATOR,
    summary="Register or replace a person's channels (preference order).",
)
async def put_contact(staff_id: StaffId, body: ContactIn, request: Request) -> Any:
    """Store channels under the staff id's pseudonym under every active key.

    SupporterMatched's supporter_ref finds them whether the supporter joined the roster before or after a key
    rotation.
    """
    c = request.app.state.container
    policy = EgressPolicy.from_settings(c.settings)
    for i, ch in enumerate(body.channels):
        reason = policy.url_problem(ch.address) if ch.kind == "webhook" else None
        if reason is not None:
            return error(422, f"channels[{i}].address", reason)
    ref = c.pseudo.pseudonym(staff_id)
    channels = [ch.model_dump() for ch in body.channels]
    async with c.runtime.uow() as uow:
        repo = Repository(uow.session)
        for key_id in c.pseudo.key_ids:
            await repo.save_contact(c.pseudo.pseudonym(staff_id, key_id), key_id, channels, c.clock.now())
        await uow.commit()
    return ContactOut(staff_ref=ref, channels=[{"kind": ch["kind"]} for ch in channels])


@router.get(
    "/v1/contacts/{staff_id:path}",
    response_model=ContactOut,
    responses=BEARER_RESPONSES,
    tags=["contacts"],
    dependencies=COORDINATOR,
    summary="A person's stored channels (coordinators).",
)
async def get_contact(staff_id: StaffId, request: Request) -> Any:
    """Read a contact by staff id (stored under the current key or a previous one still active)."""
    c = request.app.state.container
    names = c.pseudo.pseudonyms_of(staff_id)
    async with c.runtime.session() as session:
        stored = await Repository(session).contacts_of(list(names))
    row = next((stored[n] for n in names if n in stored), None)
    if row is None:
        return error(404, "staff_id", "no contact stored for this person")
    return ContactOut(staff_ref=row.staff_ref, channels=row.channels, updated_at=row.updated_at)


@router.post(
    "/v1/assignments/{assignment_id}/contacted",
    response_model=ActionResult,
    responses=BEARER_RESPONSES,
    tags=["assignments"],
    summary="Record that the colleague was contacted (schedules check-ins).",
)
async def assignment_contacted(assignment_id: Uuid, request: Request, who: OwnerOrCoordinator) -> JSONResponse:
    """The supporter who acknowledged it, or a coordinator, records contact."""
    if not await owns_assignment(request, who, assignment_id.lower()):
        return error(404, "assignment_id", "no such assignment of yours")
    settings = request.app.state.container.settings
    return await _act(request, lambda uow, now: handlers.contacted(uow, assignment_id.lower(), settings, now))


@router.post(
    "/v1/assignments/{assignment_id}/close",
    response_model=ActionResult,
    responses=BEARER_RESPONSES,
    tags=["assignments"],
    summary="Close the outreach (cancels pending reminders).",
)
async def assignment_close(assignment_id: Uuid, request: Request, who: OwnerOrCoordinator) -> JSONResponse:
    """The supporter who acknowledged it, or a coordinator, closes the case."""
    if not await owns_assignment(request, who, assignment_id.lower()):
        return error(404, "assignment_id", "no such assignment of yours")
    return await _act(request, lambda uow, now: handlers.close(uow, assignment_id.lower(), now))


@router.get(
    "/v1/deliveries",
    response_model=Deliveries,
    tags=["coordinator"],
    responses=BEARER_RESPONSES,
    dependencies=COORDINATOR,
    summary="Page deliveries, newest first (state 'sent' once a channel accepted the page).",
)
async def deliveries(
    request: Request,
    assignment_id: Annotated[str | None, Query(max_length=36, description="Only this assignment.")] = None,
    state: Annotated[str | None, Query(max_length=16, description="Only this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most rows returned.")] = 200,
) -> Deliveries:
    """List deliveries."""
    async with request.app.state.container.runtime.session() as session:
        rows = await Repository(session).deliveries(assignment_id, state, limit)
    return Deliveries(items=[Delivery.from_page(p) for p in rows])


@router.get(
    "/v1/cases/{case_id}/status",
    response_model=CaseStatus,
    responses=BEARER_RESPONSES,
    tags=["coordinator"],
    summary="A case's outreach status and history (a supporter: only their own).",
)
async def case_status(case_id: Uuid, request: Request, who: OwnerOrCoordinator) -> Any:
    """Current status plus every lifecycle change."""
    if not await owns_case(request, who, case_id.lower()):
        return error(404, "case_id", "no such case of yours")
    async with request.app.state.container.runtime.session() as session:
        repo = Repository(session)
        case = await repo.case(case_id.lower())
        if case is None:
            return error(404, "case_id", "no such case")
        history = await repo.history(case_id.lower())
    return CaseStatus(
        case_id=case.case_id,
        facility=case.facility,
        unit=case.unit,
        urgency=case.urgency,
        status=case.status,
        history=[StatusChange.model_validate(h, from_attributes=True) for h in history],
    )


async def _feed(request: Request, facility: str, day: date, call: str) -> SafetyCallFeedPublished | JSONResponse:
    c = request.app.state.container
    if call not in c.settings.safety_calls:
        return error(404, "call", f"unknown safety call; known: {', '.join(sorted(c.settings.safety_calls))}")
    async with c.runtime.session() as session:
        return await build_feed(Repository(session), c.settings, facility, call, day)


Facility = Annotated[str, Path(min_length=1, max_length=64, description="Facility code.")]
Day = Annotated[date, Path(description="Local date of the call (YYYY-MM-DD).")]
Call = Annotated[str, Path(max_length=32, description="Safety call name, e.g. morning or evening.")]


@router.get(
    "/v1/safety-calls/{facility}/{day}/{call}",
    response_model=SafetyCallFeedPublished,
    responses=BEARER_RESPONSES,
    dependencies=COORDINATOR,
    tags=["safety calls"],
    summary="Flagged events for a safety call (JSON).",
)
async def safety_call(facility: Facility, day: Day, call: Call, request: Request) -> Any:
    """The feed as JSON (same shape as the published event)."""
    return await _feed(request, facility, day, call)


@router.get(
    "/v1/safety-calls/{facility}/{day}/{call}/print",
    response_class=HTMLResponse,
    responses=BEARER_RESPONSES,
    dependencies=COORDINATOR,
    tags=["safety calls"],
    summary="Printable safety-call list (no identifiers).",
)
async def safety_call_print(facility: Facility, day: Day, call: Call, request: Request) -> Any:
    """The feed as printable HTML."""
    feed = await _feed(request, facility, day, call)
    if isinstance(feed, JSONResponse):
        return feed
    return HTMLResponse(render_print(feed))
