"""Case page (coordinators): timeline, candidates and why, and the actions (re-match, close), CSRF-protected."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from psp_console.adapters.services import BackendError, NotFound
from psp_console.adapters.sessions import WebSession
from psp_console.domain.case_view import Entry, timeline
from psp_console.entrypoints.web import NOTICES, Form, act, checked_form, current_user, page, render

router = APIRouter()
DISCIPLINES = {"": "Keep the case's preference", "same": "Same discipline", "other": "Another discipline",
               "any": "Any discipline"}  # fmt: skip
MAX_ASSIGNMENTS_PAGED = 10
NOTICES.update(
    {
        "rematched": "Re-matched: the new outcome is below (a new primary is paged within seconds).",
        "closed": "The case is closed. Its identifying details are purged after the retention period.",
        "assigned": "Assigned: the supporter you chose is the primary now and is being paged.",
    }
)


@dataclass
class CaseData:
    """What the services say about one case (either may not know it yet)."""

    matching: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    roster: list[dict[str, Any]] = field(default_factory=list)  # for the assign form


async def _optional(call: Any) -> Any:
    try:
        return await call
    except NotFound:
        return None


async def load(request: Request, user: WebSession, case_id: str) -> CaseData:
    """Matching's case (candidates, reasons) and notification's status history and pages, as the user."""
    b, token = request.app.state.console.backends, user.access_token
    data = CaseData()
    data.matching = await _optional(b.matching.get_json(f"/v1/cases/{case_id}", token))
    data.status = await _optional(b.notification.get_json(f"/v1/cases/{case_id}/status", token))
    deliveries: list[dict[str, Any]] = []
    for a in ((data.matching or {}).get("assignments") or [])[:MAX_ASSIGNMENTS_PAGED]:
        body = await b.notification.get_json("/v1/deliveries", token, params={"assignment_id": a["assignment_id"]})
        deliveries += body.get("items", [])
    data.entries = timeline((data.status or {}).get("history", []), deliveries)
    if data.matching is not None and data.matching.get("status") != "closed":
        data.roster = await b.matching.get_json("/v1/supporters", token)
    return data


def _show(request: Request, user: WebSession, case_id: str, data: CaseData, status: int = 200) -> HTMLResponse:
    if data.matching is None and data.status is None:
        message = (
            "No service knows this case. It may have been purged after the retention period, or the link is wrong. "
            "Go back to the live board."
        )
        return render(request, user, "error.html", "Case not found", 404, [message])
    case = data.matching or {}
    where = data.status or case
    facility = where.get("facility")
    assignments = case.get("assignments") or []
    current = next((a for a in assignments if a.get("assignment_id") == case.get("assignment_id")), None)
    return render(
        request,
        user,
        "case.html",
        f"Case {case_id[:8]}",
        status,
        data.problems,
        case_id=case_id,
        case=case,
        where=where,
        facility=facility,
        outreach=(data.status or {}).get("status"),
        team=current,
        older=[a for a in assignments if a is not current],
        entries=data.entries,
        disciplines=DISCIPLINES,
        roster=[r for r in data.roster if r.get("active", True)],
    )


@router.get("/cases/{case_id}", summary="A case.")
async def case_page(case_id: UUID, request: Request, user: WebSession = Depends(page("case"))) -> HTMLResponse:
    """Timeline, candidates with reasons, and the action forms."""
    return _show(request, user, str(case_id), await load(request, user, str(case_id)))


async def _again(request: Request, user: WebSession, case_id: str, problems: list[str], status: int) -> HTMLResponse:
    """The case page again, saying why the action was not done."""
    data = await load(request, user, case_id)
    data.problems = problems
    return _show(request, user, case_id, data, status)


async def _act(request: Request, user: WebSession, case_id: str, call: Awaitable[Any], notice: str) -> Response:
    """The action's service call; then the case page with ``notice``, or again with the service's refusal."""

    async def refused(exc: BackendError) -> Response:
        return await _again(request, user, case_id, [exc.message_for_page], exc.status)

    return await act(call, f"/cases/{case_id}?notice={notice}", refused)


@router.post("/cases/{case_id}/rematch", summary="Re-match a case.")
async def rematch(
    case_id: UUID,
    request: Request,
    user: WebSession = Depends(current_user),
    form: Form = Depends(checked_form("case")),
) -> Response:
    """Matching decides again now (optionally with another discipline preference)."""
    cid, discipline = str(case_id), (form.get("discipline") or [""])[0]
    if discipline not in DISCIPLINES:
        choices = ", ".join(v for v in DISCIPLINES.values())
        return await _again(request, user, cid, [f"Discipline: choose one of {choices}."], 422)
    body = {"discipline": discipline} if discipline else {}
    matching = request.app.state.console.backends.matching
    call = matching.post_json(f"/v1/cases/{cid}:rematch", user.access_token, body)
    return await _act(request, user, cid, call, "rematched")


@router.post("/cases/{case_id}/close", summary="Close a case.")
async def close(
    case_id: UUID,
    request: Request,
    user: WebSession = Depends(current_user),
    form: Form = Depends(checked_form("case")),
) -> Response:
    """Close the outreach on its current assignment (cancels pending reminders)."""
    cid = str(case_id)
    data = await load(request, user, cid)
    assignment = (data.matching or {}).get("assignment_id")
    if not assignment:
        data.problems = ["This case has no assignment to close yet: re-match it or assign a supporter first."]
        return _show(request, user, cid, data, 409)
    notification = request.app.state.console.backends.notification
    call = notification.post_json(f"/v1/assignments/{assignment}/close", user.access_token)
    return await _act(request, user, cid, call, "closed")


@router.post("/cases/{case_id}/assign", summary="Assign a named supporter.")
async def assign(
    case_id: UUID,
    request: Request,
    user: WebSession = Depends(current_user),
    form: Form = Depends(checked_form("case")),
) -> Response:
    """The chosen supporter (a roster pseudonym) becomes primary; matching checks the safety rules."""
    cid, ref = str(case_id), (form.get("supporter_ref") or [""])[0]
    if not ref:
        return await _again(request, user, cid, ["Supporter: choose who agreed to take the case."], 422)
    matching = request.app.state.console.backends.matching
    call = matching.post_json(f"/v1/cases/{cid}:assign", user.access_token, {"supporter_ref": ref})
    return await _act(request, user, cid, call, "assigned")
