"""Supporter self-service (own assignments and pages) and analyst aggregates; object-level checks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from psp_common.auth import AUTH_RESPONSES, Principal, Scope, own_refs, require
from psp_common.http import ErrorResponse, FieldError, as_utc
from psp_notification.adapters.encounter_stats import monthly_stats, to_csv
from psp_notification.adapters.orm import assignments, pages
from psp_notification.adapters.schemas import MyAssignment, MyPage, MyWork, Stats
from psp_notification.adapters.stats import case_stats

router = APIRouter(responses=AUTH_RESPONSES)


async def owns_assignment(request: Request, principal: Principal, assignment_id: str) -> bool:
    """Coordinators own everything; a supporter owns an assignment they acknowledged."""
    if principal.has(Scope.COORDINATOR):
        return True
    c = request.app.state.container
    refs = own_refs(principal, c.pseudo)
    if not refs:
        return False
    query = select(assignments.c.assignment_id).where(
        assignments.c.assignment_id == assignment_id, assignments.c.acknowledged_by.in_(refs)
    )
    async with c.runtime.session() as session:
        return (await session.execute(query)).first() is not None


async def owns_case(request: Request, principal: Principal, case_id: str) -> bool:
    """Coordinators see every case; a supporter only a case with an assignment they acknowledged."""
    if principal.has(Scope.COORDINATOR):
        return True
    c = request.app.state.container
    refs = own_refs(principal, c.pseudo)
    if not refs:
        return False
    query = (
        select(assignments.c.assignment_id)
        .where(assignments.c.case_id == case_id, assignments.c.acknowledged_by.in_(refs))
        .limit(1)
    )
    async with c.runtime.session() as session:
        return (await session.execute(query)).first() is not None


@router.get(
    "/v1/me/assignments",
    response_model=MyWork,
    tags=["supporters"],
    responses={403: {"model": ErrorResponse, "description": "Token without a staff_id claim."}},
    summary="The calling supporter's own assignments and pages (from the token's staff_id).",
)
async def my_work(
    request: Request,
    principal: Annotated[Principal, Depends(require(Scope.SUPPORTER))],
    limit: Annotated[int, Query(ge=1, le=1000, description="Most rows of each kind.")] = 100,
) -> Any:
    """Only rows of the caller: assignments they acknowledged and pages addressed to them."""
    c = request.app.state.container
    refs = own_refs(principal, c.pseudo)
    if not refs:
        reason = "a supporter token needs a staff_id claim"
        body = ErrorResponse(detail=reason, errors=[FieldError(field="staff_id", reason=reason)])
        return JSONResponse(body.model_dump(), status_code=403)
    a_query = (
        select(*(assignments.c[name] for name in MyAssignment.model_fields))
        .where(assignments.c.acknowledged_by.in_(refs))
        .order_by(assignments.c.matched_at.desc())
        .limit(limit)
    )
    p_query = (
        select(*(pages.c[name] for name in MyPage.model_fields))
        .where(pages.c.recipient_ref.in_(refs))
        .order_by(pages.c.id.desc())
        .limit(limit)
    )
    async with c.runtime.session() as session:
        a_rows = (await session.execute(a_query)).all()
        p_rows = (await session.execute(p_query)).all()
    return MyWork(
        assignments=[MyAssignment.model_validate(r, from_attributes=True) for r in a_rows],
        pages=[MyPage.model_validate(r, from_attributes=True) for r in p_rows],
    )


Since = Annotated[datetime | None, Query(description="Cases created (encounters, first contacts made) at or after.")]
Until = Annotated[datetime | None, Query(description="Cases created (encounters, first contacts made) before.")]
ANALYST_OR_COORDINATOR = [Depends(require(Scope.ANALYST, Scope.COORDINATOR))]


@router.get(
    "/v1/stats",
    response_model=Stats,
    tags=["evaluation"],
    dependencies=ANALYST_OR_COORDINATOR,
    summary="Aggregates for evaluation: counts by urgency, trigger, status; time-to-contact percentiles; monthly "
    "encounter figures (counts below PSP_STATS_MIN_CELL, and their complements, are null).",
)
async def stats(request: Request, since: Since = None, until: Until = None) -> Stats:
    """Counts only: no case id, pseudonym or free text."""
    c = request.app.state.container
    settings = c.settings
    async with c.runtime.session() as session:
        body = await case_stats(
            session, as_utc(since), as_utc(until), settings.stats_percentiles, settings.stats_min_cell
        )
        monthly = await monthly_stats(
            session, as_utc(since), as_utc(until), settings.stats_percentiles, settings.stats_min_cell
        )
    return Stats.model_validate({**body, "monthly": monthly})


@router.get(
    "/v1/stats.csv",
    response_class=Response,
    tags=["evaluation"],
    dependencies=ANALYST_OR_COORDINATOR,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per UTC month; suppressed cells empty."}},
    summary="The monthly encounter figures of /v1/stats as CSV (the same suppressed cells, left empty).",
)
async def stats_csv(request: Request, since: Since = None, until: Until = None) -> Response:
    """Counts only, one row per month."""
    c = request.app.state.container
    settings = c.settings
    async with c.runtime.session() as session:
        monthly = await monthly_stats(
            session, as_utc(since), as_utc(until), settings.stats_percentiles, settings.stats_min_cell
        )
    return Response(
        to_csv(monthly, settings.stats_percentiles),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="psp-stats-monthly.csv"'},
    )
