"""Coordinator views of cases and assignments, and the coordinator re-match."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.auth import AUTH_RESPONSES, Principal, Scope, require
from psp_common.http import ERROR_RESPONSES, ErrorResponse
from psp_common.pseudonym import Pseudonymizer
from psp_matching import handlers, roster
from psp_matching.adapters.cases import CaseRepository
from psp_matching.adapters.roster import RosterRepository
from psp_matching.domain.errors import CaseError
from psp_matching.entrypoints.errors import case_error, error

router = APIRouter(tags=["assignments"], responses=AUTH_RESPONSES)
COORDINATOR = [Depends(require(Scope.COORDINATOR))]


class CandidateView(BaseModel):
    """A supporter proposed on an assignment."""

    supporter_ref: str = Field(description="Pseudonym of the supporter.")
    display_name: str | None = Field(None, description="Name (coordinators only).")
    role: str = Field(description="primary, co_facilitator or backup.")
    score: float = Field(description="Preference score.")
    reasons: list[str] = Field(description="Why this supporter ranks where it does.")


class AssignmentView(BaseModel):
    """An assignment of supporters to a case."""

    assignment_id: str = Field(description="Assignment id.")
    case_id: str = Field(description="Case id.")
    status: str = Field(description="active or superseded.")
    urgency: str = Field(description="Urgency it was made for.")
    primary_ref: str = Field(description="Pseudonym of the primary supporter.")
    supported: list[str] = Field(description="Pseudonyms of the people supported.")
    candidates: list[CandidateView] = Field(description="Primary, co-facilitators and ranked backups.")
    created_at: datetime = Field(description="When it was made.")


class CaseView(BaseModel):
    """A case as matching saw it, with its assignments."""

    case_id: str = Field(description="Case id.")
    facility: str = Field(description="Facility code.")
    unit: str = Field(description="Unit code.")
    urgency: str = Field(description="Current urgency.")
    mode: str = Field(description="individual or group.")
    tier: int = Field(description="Support tier.")
    discipline: str = Field(description="Discipline preference: same, other or any.")
    supported: list[str] = Field(description="Pseudonyms of the people to support.")
    status: str = Field(description="matched or unmatched.")
    assignment_id: str | None = Field(description="Current assignment.")
    reasons: list[str] = Field(description="Unmatched reasons by constraint, or team notes.")
    last_decision: str = Field(description="What matching did last and why.")
    assignments: list[AssignmentView] = Field(description="Assignments, newest first.")


class RematchIn(BaseModel):
    """A coordinator's re-match of a case."""

    model_config = ConfigDict(extra="forbid")
    discipline: Literal["same", "other", "any"] | None = Field(
        None, description="Prefer the same discipline, another one, or either; none keeps the case's choice."
    )


async def _views(request: Request, rows: list[dict[str, Any]], names_shown: bool = True) -> list[AssignmentView]:
    c = request.app.state.container
    names: dict[str, str] = {}
    if names_shown:
        async with c.runtime.session() as session:
            names = {r["supporter_ref"]: r["display_name"] for r in await RosterRepository(session).rows()}
    return [
        AssignmentView(
            assignment_id=r["assignment_id"],
            case_id=r["case_id"],
            status=r["status"],
            urgency=r["urgency"],
            primary_ref=r["primary_ref"],
            supported=r["supported"],
            created_at=r["created_at"],
            candidates=[CandidateView(display_name=names.get(x["supporter_ref"]), **x) for x in r["candidates"]],
        )
        for r in rows
    ]


@router.get(
    "/v1/assignments",
    response_model=list[AssignmentView],
    dependencies=COORDINATOR,
    summary="Assignments, newest first.",
)
async def list_assignments(
    request: Request,
    status: Literal["active", "superseded"] | None = Query(None, description="Filter by status."),
    limit: int = Query(100, ge=1, le=10_000, description="Most rows returned."),
) -> list[AssignmentView]:
    """Assignments for coordinators."""
    c = request.app.state.container
    async with c.runtime.session() as session:
        rows = await CaseRepository(session).assignments(min(limit, c.settings.max_list), status=status)
    return await _views(request, rows)


@router.get(
    "/v1/me/assignments",
    response_model=list[AssignmentView],
    responses={403: {"model": ErrorResponse, "description": "Token without a staff_id claim."}},
    summary="The calling supporter's own assignments (from the token's staff_id), newest first.",
)
async def my_assignments(
    request: Request,
    principal: Principal = Depends(require(Scope.SUPPORTER)),
    limit: int = Query(100, ge=1, le=10_000, description="Most rows returned."),
) -> Any:
    """Only assignments whose team includes the caller; other supporters' names are not shown."""
    c = request.app.state.container
    if not principal.staff_id:
        return error(403, "no staff id in token", "staff_id", "a supporter token needs a staff_id claim")
    async with c.runtime.session() as session:
        ref = await _own_ref(session, principal, c.pseudo)
        rows = await CaseRepository(session).member_assignments(ref, min(limit, c.settings.max_list))
    return await _views(request, rows, names_shown=False)


async def _own_ref(session: AsyncSession, principal: Principal, pseudo: Pseudonymizer) -> str:
    """The caller's roster ref (registered under any key), else their pseudonym under the current key."""
    staff_id = principal.staff_id or ""
    return await roster.stored_ref(RosterRepository(session), staff_id, pseudo) or pseudo.pseudonym(staff_id)


async def _case(request: Request, case_id: str, names_shown: bool = True) -> CaseView | None:
    c = request.app.state.container
    async with c.runtime.session() as session:
        repo = CaseRepository(session)
        case = await repo.get(case_id)
        if case is None:
            return None
        rows = await repo.assignments(c.settings.max_list, case_id=case_id)
    return CaseView(
        case_id=case.case_id,
        facility=case.facility,
        unit=case.unit,
        urgency=case.urgency,
        mode=case.mode,
        tier=case.tier,
        discipline=case.discipline,
        supported=case.people,
        status=case.status,
        assignment_id=case.assignment_id,
        reasons=case.reasons,
        last_decision=case.last_decision,
        assignments=await _views(request, rows, names_shown),
    )


@router.get(
    "/v1/cases/{case_id}",
    response_model=CaseView,
    responses={404: {"model": ErrorResponse, "description": "Unknown case."}, **ERROR_RESPONSES},
    summary="A case with its assignments (a supporter: only a case they are on).",
)
async def get_case(
    case_id: UUID, request: Request, principal: Principal = Depends(require(Scope.COORDINATOR, Scope.SUPPORTER))
) -> Any:
    """Case detail for coordinators, and for a supporter on the case's team (404 for anyone else's case)."""
    coordinator = principal.has(Scope.COORDINATOR)
    if not coordinator:
        c = request.app.state.container
        async with c.runtime.session() as session:
            ref = await _own_ref(session, principal, c.pseudo) if principal.staff_id else None
            mine = ref is not None and await CaseRepository(session).is_member(str(case_id), ref)
        if not mine:
            return error(404, "unknown case", "case_id", "not a case of yours")
    view = await _case(request, str(case_id), names_shown=coordinator)
    return view if view is not None else error(404, "unknown case", "case_id", "matching has not seen it")


@router.post(
    "/v1/cases/{case_id}:rematch",
    response_model=CaseView,
    dependencies=COORDINATOR,
    responses={
        404: {"model": ErrorResponse, "description": "Unknown case."},
        409: {"model": ErrorResponse, "description": "The outreach is closed."},
        **ERROR_RESPONSES,
    },
    summary="Re-match a case now (e.g. prefer another discipline); publishes the new outcome.",
)
async def rematch(case_id: UUID, body: RematchIn, request: Request) -> Any:
    """A new assignment superseding the current one, or SupporterUnmatched.

    Judged now, on the clock (shifts, the cap's month, fairness, continuity): a coordinator re-match is a live
    decision made when asked, not a replayable event, unlike a requested case judged at its ``requested_at``.
    """
    c = request.app.state.container
    try:
        async with c.runtime.uow() as uow:
            await handlers.rematch(uow, str(case_id), body.discipline, c.deps)
            await uow.commit()
    except CaseError as exc:
        return case_error(exc)
    return await _case(request, str(case_id))


class AssignIn(BaseModel):
    """A coordinator's choice of supporter for a case."""

    model_config = ConfigDict(extra="forbid")
    supporter_ref: str = Field(
        min_length=3, max_length=64, pattern=r"^ps_[0-9a-f]+$", description="Pseudonym of a supporter on the roster."
    )


@router.post(
    "/v1/cases/{case_id}:assign",
    response_model=CaseView,
    dependencies=COORDINATOR,
    responses={
        404: {"model": ErrorResponse, "description": "Unknown case."},
        409: {"model": ErrorResponse, "description": "The outreach is closed, or the supporter is not eligible."},
        **ERROR_RESPONSES,
    },
    summary="Assign a named supporter as the case's primary (e.g. after calling them); publishes the match.",
)
async def assign(case_id: UUID, body: AssignIn, request: Request) -> Any:
    """A new assignment with the named supporter as primary, superseding the current one; notification pages them.

    The monthly cap and contact hours may be waived (the coordinator asked them); the safety constraints may not:
    not involved in the event, not an evaluator or supervisor of a supported person, not junior to them, trained
    for groups, credentialed for tier 3, not stepped away (409 naming what fails).
    """
    c = request.app.state.container
    try:
        async with c.runtime.uow() as uow:
            await handlers.assign(uow, str(case_id), body.supporter_ref, c.deps)
            await uow.commit()
    except CaseError as exc:
        return case_error(exc)
    return await _case(request, str(case_id))
