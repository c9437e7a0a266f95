"""Shift feed HTTP API (coordinators): JSON and iCalendar uploads, and the shifts in a time range (week view)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_common.http import ERROR_RESPONSES, ErrorResponse
from psp_matching import roster
from psp_matching.adapters.imports import parse_ical
from psp_matching.adapters.roster import RosterRepository
from psp_matching.adapters.schemas import ImportReport, ShiftIn, ShiftsAccepted, ShiftView
from psp_matching.entrypoints.errors import ICAL_TYPES, error, raw_body_doc, text_body

router = APIRouter(tags=["availability"], dependencies=[Depends(require(Scope.COORDINATOR))], responses=AUTH_RESPONSES)
RAW: dict[int | str, dict[str, Any]] = {
    415: {"model": ErrorResponse, "description": "Wrong content type."},
    422: {"model": ImportReport, "description": "Rows rejected, each with row, field and reason."},
}
MAX_SPAN = timedelta(days=31)


@router.post(
    "/v1/shifts",
    response_model=ShiftsAccepted,
    responses=ERROR_RESPONSES,
    summary="Shift feed: who works when (JSON list).",
)
async def add_shifts(body: list[ShiftIn], request: Request) -> ShiftsAccepted:
    """Store shifts so matching knows who is on shift now."""
    c = request.app.state.container
    async with c.runtime.uow() as uow:
        stored = await roster.add_shifts(uow, body, c.pseudo, "json")
        await uow.commit()
    return ShiftsAccepted(received=len(body), stored=stored)


@router.post(
    "/v1/shifts:ical",
    response_model=ShiftsAccepted,
    responses=RAW,
    openapi_extra=raw_body_doc(
        "text/calendar",
        "VEVENTs; the staff id is an ATTENDEE 'urn:psp:staff:<id>' or a SUMMARY 'staff:<id> ...'; "
        "DTSTART/DTEND need a TZID or UTC.",
    ),
    summary="Shift feed from an iCalendar export.",
)
async def add_shifts_ical(request: Request) -> Any:
    """All-or-nothing: any bad VEVENT -> 422 with its number, property and reason."""
    c = request.app.state.container
    text = await text_body(request, ICAL_TYPES)
    if isinstance(text, JSONResponse):
        return text
    items, errors = parse_ical(text)
    if errors:
        return JSONResponse(ImportReport(detail="nothing imported", errors=errors).model_dump(), status_code=422)
    async with c.runtime.uow() as uow:
        stored = await roster.add_shifts(uow, items, c.pseudo, "ical")
        await uow.commit()
    return ShiftsAccepted(received=len(items), stored=stored)


@router.get(
    "/v1/shifts",
    response_model=list[ShiftView],
    responses=ERROR_RESPONSES,
    summary="Shifts overlapping a time range (at most 31 days), earliest first.",
)
async def list_shifts(
    request: Request,
    start: datetime = Query(description="Range start, with a UTC offset."),
    end: datetime = Query(description="Range end, with a UTC offset; after start, at most 31 days later."),
) -> Any:
    """Every stored shift that overlaps ``start``..``end`` (capped at PSP_MAX_LIST rows)."""
    for name, value in (("start", start), ("end", end)):
        if value.utcoffset() is None:
            return error(422, "time without offset", name, "give a UTC offset, e.g. 2026-11-23T00:00:00-05:00")
    if not start < end <= start + MAX_SPAN:
        return error(422, "bad range", "end", "must be after start and at most 31 days later")
    c = request.app.state.container
    async with c.runtime.session() as session:
        rows = await RosterRepository(session).shifts_between(start, end, c.settings.max_list)
    return [ShiftView(staff_ref=ref, start=s, end=e, source=src) for ref, s, e, src in rows]
