"""Directory (coordinators): load the staff directory (CSV or FHIR R4 Bundle) into the notification service, with
each bad row's problem, and remove someone who left by staff id. No page lists names: the directory is only read
one person at a time, where a page must reveal them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from psp_console.adapters.services import BackendError, NotFound
from psp_console.adapters.sessions import WebSession
from psp_console.domain.roster import Form, label, problems_of
from psp_console.entrypoints.uploads import Upload, checked_upload
from psp_console.entrypoints.web import NOTICES, act, checked_form, page, refusal_lines, refused_fields, render

router = APIRouter()
FORMATS = {
    "csv": ("/v1/directory/import.csv", "text/csv", "row", "column"),
    "fhir": ("/v1/directory/import.fhir", "application/fhir+json", "entry", "element"),
}
MODES = ("upsert", "replace")
NOTICES["leaver_removed"] = "Removed from the directory: their name and contacts are gone."
NO_ONE = "No one with that staff id is in the directory. Check the id (as on their badge) and try again."


def _page(
    request: Request, user: WebSession, status: int = 200, errors: list[str] | None = None, **context: Any
) -> HTMLResponse:
    context.setdefault("fmt", "csv")
    context.setdefault("mode", "upsert")
    return render(request, user, "directory.html", "Staff directory", status, errors, **context)


@router.get("/directory", summary="Staff directory import and leavers.")
async def directory(request: Request, user: WebSession = Depends(page("directory"))) -> HTMLResponse:
    """The import form and the leaver form (no list of people)."""
    return _page(request, user)


@router.post("/directory/import", summary="Load the staff directory.")
async def import_directory(request: Request, upload: Upload = Depends(checked_upload("directory"))) -> HTMLResponse:
    """Send the file to notification; show the counts and each rejected row or entry (never a value)."""
    user = upload.user
    fmt = upload.fields.get("format", "csv")
    mode = upload.fields.get("mode", "upsert")
    if fmt not in FORMATS or mode not in MODES:
        return _page(request, user, 400, ["Choose the file's format and how to apply it, then send again."])
    if upload.problem:
        return _page(request, user, 400, [upload.problem], fmt=fmt, mode=mode)
    path, content_type, number, field = FORMATS[fmt]
    accepted, report = await request.app.state.console.backends.notification.upload(
        path, user.access_token, upload.content, content_type, {"mode": mode}
    )
    result = report if isinstance(report, dict) else {}
    return _page(
        request,
        user,
        200 if accepted else 422,
        report=result,
        accepted=accepted,
        problems=problems_of(result, number, field),
        fmt=fmt,
        mode=mode,
    )


@router.post("/directory/remove", summary="Remove a leaver.")
async def remove(request: Request, form: Form = Depends(checked_form("directory"))) -> Response:
    """Delete one person's entry by staff id; a refusal shows the form again with the id kept."""
    user: WebSession = request.state.user
    staff_id = (form.get("staff_id") or [""])[0].strip()
    if not staff_id:
        why = "enter the staff id of the person who left"
        return _page(request, user, 422, [f"Staff id: {why}."], invalid={"staff_id": why})

    async def refused(exc: BackendError) -> Response:
        if isinstance(exc, NotFound):
            return _page(request, user, 404, [NO_ONE], leaver=staff_id, invalid={"staff_id": "no one with this id"})
        lines = ["Nobody was removed.", *refusal_lines(exc, label)]
        return _page(request, user, exc.status, lines, leaver=staff_id, invalid=dict(refused_fields(exc)))

    call = request.app.state.console.backends.notification.request(
        "DELETE", f"/v1/directory/{quote(staff_id, safe='')}", user.access_token
    )
    return await act(call, "/directory?notice=leaver_removed", refused)
