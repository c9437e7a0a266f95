"""Roster (coordinators): the supporters with their state, shift and this month's load against the cap; add, edit,
pause/resume, step away/back, and the roster CSV import with each bad row's problem. Matching's API does the work.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from psp_console.adapters.services import BackendError, NotFound
from psp_console.adapters.sessions import WebSession
from psp_console.domain.roster import (
    Form,
    SupporterRow,
    form_values,
    invalid_fields,
    label,
    problems_of,
    submitted,
    supporter_body,
)
from psp_console.entrypoints.uploads import Upload, checked_upload
from psp_console.entrypoints.web import NOTICES, act, checked_form, page, refusal_lines, refused_fields, render

router = APIRouter()
ACTIONS = {
    "pause": ("pause", "paused"),
    "resume": ("resume", "resumed"),
    "step-away": ("deactivate", "stepped_away"),
    "come-back": ("activate", "came_back"),
}
NOTICES.update(
    {
        "supporter_added": "The supporter is on the roster.",
        "supporter_saved": "The changes are saved.",
        "paused": "Paused: not matched until resumed.",
        "resumed": "Resumed: matched again.",
        "stepped_away": "Stepped away: off the roster until they come back (their history is kept).",
        "came_back": "Back on the roster.",
    }
)


def _path(staff_id: str) -> str:
    return quote(staff_id, safe="")


async def _supporters(request: Request, user: WebSession) -> list[dict[str, Any]]:
    views: list[dict[str, Any]] = await request.app.state.console.backends.matching.get_json(
        "/v1/supporters", user.access_token, params={"limit": 10_000}
    )
    return views


async def _roster_page(
    request: Request, user: WebSession, status: int = 200, errors: list[str] | None = None, **context: Any
) -> HTMLResponse:
    rows = [SupporterRow.of(v) for v in await _supporters(request, user)]
    context.setdefault("values", {})
    context.setdefault("partial", True)
    return render(request, user, "roster.html", "Roster", status, errors, rows=rows, **context)


Problems = list[tuple[str, str]]


def _lines(problems: Problems) -> list[str]:
    return [f"{label(f)}: {r}." for f, r in problems]


def _refusal(exc: BackendError) -> tuple[Problems, int, list[str]]:
    """A service's refusal of the supporter form: the fields it named, its status, and what the page says."""
    return refused_fields(exc), exc.status, refusal_lines(exc, label)


@router.get("/roster", summary="The roster.")
async def roster(request: Request, user: WebSession = Depends(page("roster"))) -> HTMLResponse:
    """Every supporter, the add form and the CSV import."""
    return await _roster_page(request, user)


@router.post("/roster/add", summary="Add a supporter.")
async def add(request: Request, form: Form = Depends(checked_form("roster"))) -> Response:
    """Register a supporter with matching; the form comes back with each problem named."""
    user: WebSession = request.state.user
    body, problems = supporter_body(form, new=True)

    async def refused(problems: Problems, status: int = 422, lines: list[str] | None = None) -> Response:
        fix = ["The supporter was not added. Correct the fields below and send the form again."]
        lines = fix + (lines or _lines(problems))
        invalid = invalid_fields(problems)
        return await _roster_page(request, user, status, lines, values=submitted(form), invalid=invalid)

    if problems:
        return await refused(problems)
    call = request.app.state.console.backends.matching.post_json("/v1/supporters", user.access_token, body)
    return await act(call, "/roster?notice=supporter_added", lambda exc: refused(*_refusal(exc)))


async def _one(request: Request, user: WebSession, staff_id: str) -> dict[str, Any]:
    for view in await _supporters(request, user):
        if view["staff_id"] == staff_id:
            return view
    raise NotFound("matching", "has no supporter with that staff id on the roster")


@router.get("/roster/{staff_id:path}/edit", summary="Edit a supporter.")
async def edit(staff_id: str, request: Request, user: WebSession = Depends(page("roster"))) -> HTMLResponse:
    """The edit form, filled with what matching holds."""
    view = await _one(request, user, staff_id)
    return render(
        request, user, "roster_edit.html", f"Edit {view['display_name']}", values=form_values(view), view=view
    )


@router.post("/roster/{staff_id:path}/edit", summary="Save a supporter's changes.")
async def save(staff_id: str, request: Request, form: Form = Depends(checked_form("roster"))) -> Response:
    """Change the supporter's fields (PATCH: lists left empty keep what is stored, "clear" empties them)."""
    user: WebSession = request.state.user
    body, problems = supporter_body(form, new=False)

    async def refused(problems: Problems, status: int = 422, lines: list[str] | None = None) -> Response:
        view = await _one(request, user, staff_id)
        lines = ["Nothing was saved. Correct the fields below and send the form again.", *(lines or _lines(problems))]
        values, invalid = submitted(form) | {"staff_id": staff_id}, invalid_fields(problems)
        title = f"Edit {view['display_name']}"
        return render(
            request, user, "roster_edit.html", title, status, lines, values=values, view=view, invalid=invalid
        )

    if problems:
        return await refused(problems)
    matching = request.app.state.console.backends.matching
    call = matching.request("PATCH", f"/v1/supporters/{_path(staff_id)}", user.access_token, json=body)
    return await act(call, "/roster?notice=supporter_saved", lambda exc: refused(*_refusal(exc)))


@router.post("/roster/{staff_id:path}/{action}", summary="Pause, resume, step away or come back.")
async def change_state(
    staff_id: str, action: str, request: Request, _: Form = Depends(checked_form("roster"))
) -> Response:
    """One of matching's pause / resume / deactivate / activate; a refusal shows the roster with its reason."""
    if action not in ACTIONS:
        raise NotFound("console", "has no such roster action")
    user: WebSession = request.state.user
    verb, notice = ACTIONS[action]

    async def refused(exc: BackendError) -> Response:
        return await _roster_page(request, user, exc.status, refusal_lines(exc, label))

    call = request.app.state.console.backends.matching.post_json(
        f"/v1/supporters/{_path(staff_id)}/{verb}", user.access_token
    )
    return await act(call, f"/roster?notice={notice}", refused)


@router.post("/roster/import", summary="Import the roster from CSV.")
async def import_csv(request: Request, upload: Upload = Depends(checked_upload("roster"))) -> Response:
    """Send the file to matching; show how many rows it took and each bad row's number, column and reason."""
    user = upload.user
    partial = upload.flag("partial")
    if upload.problem:
        return await _roster_page(request, user, 400, [upload.problem], partial=partial)
    accepted, report = await request.app.state.console.backends.matching.upload(
        "/v1/supporters:import", user.access_token, upload.content, "text/csv", {"partial": str(partial).lower()}
    )
    result = report if isinstance(report, dict) else {}
    return await _roster_page(
        request,
        user,
        200 if accepted else 422,
        report=result,
        accepted=accepted,
        problems=problems_of(result),
        partial=partial,
    )
