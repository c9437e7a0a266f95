"""Roster, staff directory and shift-feed HTTP API (thin: parse, call the use case, answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_common.http import ERROR_RESPONSES, ErrorResponse, validation_response
from psp_matching import roster
from psp_matching.adapters.imports import parse_staff_csv, parse_supporters_csv
from psp_matching.adapters.roster import RosterRepository
from psp_matching.adapters.schemas import (
    ImportReport,
    StaffIn,
    StaffView,
    SupporterFields,
    SupporterIn,
    SupporterPatch,
    SupporterView,
)
from psp_matching.adapters.workload import month_start
from psp_matching.entrypoints.errors import CSV_TYPES, error, raw_body_doc, text_body

router = APIRouter(tags=["roster"], dependencies=[Depends(require(Scope.COORDINATOR))], responses=AUTH_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "Unknown staff id."}}
RAW: dict[int | str, dict[str, Any]] = {
    415: {"model": ErrorResponse, "description": "Wrong content type."},
    422: {"model": ImportReport, "description": "Rows rejected, each with row, field and reason."},
}


class SupporterCreated(BaseModel):
    """Answer to a registration."""

    supporter_ref: str = Field(description="Pseudonym of the supporter, as carried on the bus.")


class StaffCreated(BaseModel):
    """Answer to a staff directory entry."""

    staff_ref: str = Field(description="Pseudonym under which the entry is stored.")


def _c(request: Request) -> Any:
    return request.app.state.container


async def _view(request: Request, row: dict[str, Any]) -> SupporterView:
    c = _c(request)
    now = c.deps.clock()
    async with c.runtime.session() as session:
        repo = RosterRepository(session)
        shift = await repo.on_shift(now, [row["supporter_ref"]])
        counts = await repo.case_counts(month_start(now, c.settings.cap_time_zone))
    return roster.view(row, bool(shift), counts.get(row["supporter_ref"], 0), program_cap=c.settings.monthly_cap)


@router.post(
    "/v1/supporters",
    status_code=201,
    response_model=SupporterCreated,
    responses={409: {"model": ErrorResponse, "description": "Already registered."}, **ERROR_RESPONSES},
    summary="Register a peer supporter.",
)
async def create_supporter(body: SupporterIn, request: Request) -> Any:
    """Add a supporter; answer with the pseudonym used on the bus."""
    c = _c(request)
    async with c.runtime.uow() as uow:
        try:
            ref = await roster.register(uow, body, c.pseudo, c.deps.clock())
        except roster.AlreadyRegistered:
            return error(409, "supporter already registered", "staff_id", "already on the roster; use PUT")
        await uow.commit()
    return SupporterCreated(supporter_ref=ref)


@router.put(
    "/v1/supporters/{staff_id:path}",
    response_model=SupporterView,
    responses={**NOT_FOUND, **ERROR_RESPONSES},
    summary="Update a supporter (full replacement).",
)
async def update_supporter(staff_id: str, body: SupporterFields, request: Request) -> Any:
    """Replace a supporter's attributes."""
    c = _c(request)
    async with c.runtime.uow() as uow:
        ref = await roster.replace(uow, staff_id, body, c.pseudo, c.deps.clock())
        if ref is None:
            return error(404, "unknown supporter", "staff_id", "not on the roster")
        await uow.commit()
        row = await RosterRepository(uow.session).get(ref)
    assert row is not None
    return await _view(request, row)


@router.patch(
    "/v1/supporters/{staff_id:path}",
    response_model=SupporterView,
    responses={**NOT_FOUND, **ERROR_RESPONSES},
    summary="Change some of a supporter's fields (the others, evaluates/supervises too, are kept).",
)
async def patch_supporter(staff_id: str, body: SupporterPatch, request: Request) -> Any:
    """Merge the fields given into the stored supporter; the result is validated as a whole."""
    c = _c(request)
    async with c.runtime.uow() as uow:
        try:
            ref = await roster.patch(uow, staff_id, body, c.pseudo, c.deps.clock())
        except ValidationError as exc:
            return validation_response(exc)
        if ref is None:
            return error(404, "unknown supporter", "staff_id", "not on the roster")
        await uow.commit()
        row = await RosterRepository(uow.session).get(ref)
    assert row is not None
    return await _view(request, row)


async def _flag(request: Request, staff_id: str, **flags: Any) -> Any:
    c = _c(request)
    async with c.runtime.uow() as uow:
        row = await roster.set_flags(uow, staff_id, c.pseudo, updated_at=c.deps.clock(), **flags)
        if row is None:
            return error(404, "unknown supporter", "staff_id", "not on the roster")
        await uow.commit()
    return await _view(request, row)


@router.post(
    "/v1/supporters/{staff_id:path}/deactivate",
    response_model=SupporterView,
    responses=NOT_FOUND,
    summary="Take a supporter off the roster (kept for history).",
)
async def deactivate(staff_id: str, request: Request) -> Any:
    """Deactivate: never matched again until activated."""
    return await _flag(request, staff_id, active=False)


@router.post(
    "/v1/supporters/{staff_id:path}/activate",
    response_model=SupporterView,
    responses=NOT_FOUND,
    summary="Put a deactivated supporter back on the roster.",
)
async def activate(staff_id: str, request: Request) -> Any:
    """Reactivate."""
    return await _flag(request, staff_id, active=True)


@router.post(
    "/v1/supporters/{staff_id:path}/pause",
    response_model=SupporterView,
    responses=NOT_FOUND,
    summary="Step away: not matched until resumed.",
)
async def pause(staff_id: str, request: Request) -> Any:
    """Pause (a volunteer may step away at any time)."""
    return await _flag(request, staff_id, paused=True)


@router.post(
    "/v1/supporters/{staff_id:path}/resume",
    response_model=SupporterView,
    responses=NOT_FOUND,
    summary="Come back from a step-away.",
)
async def resume(staff_id: str, request: Request) -> Any:
    """Resume."""
    return await _flag(request, staff_id, paused=False)


@router.get("/v1/supporters", response_model=list[SupporterView], summary="The roster, for coordinators.")
async def list_supporters(request: Request, limit: int = Query(200, ge=1, le=10_000)) -> list[SupporterView]:
    """Supporters with on-shift flag and this month's case count."""
    c = _c(request)
    now = c.deps.clock()
    async with c.runtime.session() as session:
        repo = RosterRepository(session)
        rows = await repo.rows(min(limit, c.settings.max_list))
        shift = await repo.on_shift(now)
        counts = await repo.case_counts(month_start(now, c.settings.cap_time_zone))
    cap = c.settings.monthly_cap
    return [
        roster.view(r, r["supporter_ref"] in shift, counts.get(r["supporter_ref"], 0), program_cap=cap) for r in rows
    ]


@router.post(
    "/v1/supporters:import",
    response_model=ImportReport,
    responses=RAW,
    openapi_extra=raw_body_doc("text/csv", "Header row then one supporter per line; lists ';'-separated."),
    summary="Import the roster from CSV (create or update by staff_id).",
)
async def import_supporters(request: Request, partial: bool = Query(False, description="Keep good rows.")) -> Any:
    """All-or-nothing unless ``partial``: any bad row -> 422 with row, field and reason."""
    c = _c(request)
    text = await text_body(request, CSV_TYPES)
    if isinstance(text, JSONResponse):
        return text
    good, errors = parse_supporters_csv(text)
    if errors and (not partial or not good):
        return JSONResponse(
            ImportReport(detail=f"{len(errors)} problem(s); nothing imported", errors=errors).model_dump(),
            status_code=422,
        )
    async with c.runtime.uow() as uow:
        created, updated = await roster.upsert_many(uow, [b for _, b in good], c.pseudo, c.deps.clock())
        await uow.commit()
    return ImportReport(detail=f"{created + updated} row(s) imported", created=created, updated=updated, errors=errors)


@router.post(
    "/v1/staff",
    status_code=201,
    response_model=StaffCreated,
    responses=ERROR_RESPONSES,
    summary="Add or replace a staff directory entry (pseudonym + attributes only).",
)
async def add_staff(body: StaffIn, request: Request) -> StaffCreated:
    """Seniority and profession of clinicians who may need support."""
    c = _c(request)
    async with c.runtime.uow() as uow:
        await roster.upsert_staff(uow, [body], c.pseudo, c.deps.clock())
        await uow.commit()
    return StaffCreated(staff_ref=c.pseudo.pseudonym(body.staff_id))


@router.post(
    "/v1/staff:import",
    response_model=ImportReport,
    responses=RAW,
    openapi_extra=raw_body_doc("text/csv", "Columns staff_id, profession, seniority_level, languages."),
    summary="Import the staff directory from CSV.",
)
async def import_staff(request: Request) -> Any:
    """All-or-nothing: any bad row -> 422 with row, field and reason."""
    c = _c(request)
    text = await text_body(request, CSV_TYPES)
    if isinstance(text, JSONResponse):
        return text
    good, errors = parse_staff_csv(text)
    if errors:
        return JSONResponse(ImportReport(detail="nothing imported", errors=errors).model_dump(), status_code=422)
    async with c.runtime.uow() as uow:
        created = await roster.upsert_staff(uow, [b for _, b in good], c.pseudo, c.deps.clock())
        await uow.commit()
    return ImportReport(detail=f"{len(good)} row(s) imported", created=created, updated=len(good) - created)


@router.get("/v1/staff", response_model=list[StaffView], summary="Staff directory (pseudonyms only).")
async def list_staff(request: Request, limit: int = Query(200, ge=1, le=10_000)) -> list[StaffView]:
    """Directory entries."""
    c = _c(request)
    async with c.runtime.session() as session:
        rows = await RosterRepository(session).staff_rows(min(limit, c.settings.max_list))
    return [
        StaffView(
            staff_ref=r["staff_ref"],
            profession=r["profession"],
            seniority_level=r["seniority_level"],
            languages=r["languages"],
        )
        for r in rows
    ]
