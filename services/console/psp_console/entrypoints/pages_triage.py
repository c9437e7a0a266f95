"""Triage (coordinators): the listener's held reports, attach people and dispatch them, or dismiss with a reason.

Everything goes through the listener's triage API as the signed-in coordinator (it records who decided and
counts every decision); a directory look-up is notification's audited reveal, shown on that item's page only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from psp_console.adapters.services import BackendError, Conflict, Invalid, NotAllowed, NotFound, NotSignedIn
from psp_console.adapters.sessions import WebSession
from psp_console.domain import triage as t
from psp_console.entrypoints.web import NOTICES, Form, act, checked_form, current_user, page, render

router = APIRouter()
PAGE_SIZE = 50
FILTER_STATUSES = ("open", "dispatched", "dismissed", "superseded", "all")
NOTICES.update(
    {
        "triage_dispatched": "Dispatched: the report is on its way to the rules, then matching and paging.",
        "triage_already": "This report was already dispatched: nothing was sent again.",
        "triage_dismissed": "Dismissed: the reason is recorded and counted.",
    }
)
NOT_FOUND = "The listener holds no such triage item. Go back to the triage queue and open one from the list."


def _problem(exc: BackendError) -> str:
    if isinstance(exc, (NotSignedIn, NotAllowed)):
        raise exc  # the error page: sign in again / not your role
    return exc.message_for_page + " Reload in a moment; if it persists, check the service status page."


@router.get("/triage", summary="Triage queue.")
async def queue(
    request: Request,
    status: str = Query("open", max_length=16),
    reason: str = Query("", max_length=32),
    offset: int = Query(0, ge=0, le=1_000_000),
    user: WebSession = Depends(page("triage")),
) -> HTMLResponse:
    """Held reports (open ones by default), newest first, with the counts of reasons and decisions."""
    status = status if status in FILTER_STATUSES else "open"
    reason = reason if reason in t.REASONS else ""
    console = request.app.state.console
    listener, now = console.backends.listener, console.clock.now()
    params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": offset}
    params |= {"status": status} if status != "all" else {}
    params |= {"reason": reason} if reason else {}
    items: list[t.QueueItem] = []
    counts, total, problem = None, 0, None
    try:
        body = await listener.get_json("/v1/triage", user.access_token, params=params)
        items = [t.QueueItem.from_api(i, now) for i in body.get("items", [])]
        total = int(body.get("total", 0))
        counts = t.Counts.from_api(await listener.get_json("/v1/triage/stats", user.access_token))
    except BackendError as exc:
        problem = _problem(exc)
    here = {"status": status, "reason": reason}
    more = urlencode(here | {"offset": offset + PAGE_SIZE}) if offset + PAGE_SIZE < total else None
    back = urlencode(here | {"offset": max(offset - PAGE_SIZE, 0)}) if offset else None
    return render(
        request, user, "triage.html", "Triage", items=items, counts=counts, total=total, problem=problem,
        shown=status, reason=reason, statuses=FILTER_STATUSES, t=t, now=now, offset=offset, more=more, back=back,
    )  # fmt: skip


async def _item(request: Request, user: WebSession, item_id: str) -> dict[str, Any]:
    item: dict[str, Any] = await request.app.state.console.backends.listener.get_json(
        f"/v1/triage/{item_id}", user.access_token
    )
    return item


def _show(
    request: Request,
    user: WebSession,
    item: dict[str, Any],
    form: t.AttachForm | None = None,
    status: int = 200,
    problems: list[str] | None = None,
    **more: Any,
) -> HTMLResponse:
    now = request.app.state.console.clock.now()
    form = form or t.blank_form(t.rows_wanted(request.query_params.get("rows", t.ATTACH_ROWS)))
    title = f"Triage item {str(item.get('id', ''))[:8]}"
    return render(
        request, user, "triage_item.html", title, status, problems, item=item, form=form, t=t, now=now,
        facility=item.get("facility"), is_open=t.is_open(item), more_rows=min(len(form.rows) + 4, t.MAX_ATTACH_ROWS),
        **more,
    )  # fmt: skip


def _missing(request: Request, user: WebSession) -> HTMLResponse:
    return render(request, user, "error.html", "Triage item not found", 404, [NOT_FOUND])


async def _found(request: Request, user: WebSession, iid: str) -> dict[str, Any] | None:
    """The item, or None when the listener holds no such item (the handler answers with ``_missing``)."""
    try:
        return await _item(request, user, iid)
    except NotFound:
        return None


async def _act(
    request: Request, user: WebSession, iid: str, call: Awaitable[Any], done: str | Callable[[Any], str], **shown: Any
) -> Response:
    """A decision's listener call; then the item with a notice, or the item again with the listener's refusal."""

    async def refused(exc: BackendError) -> Response:
        item = await _item(request, user, iid)
        return _show(request, user, item, status=exc.status, problems=[exc.message_for_page], **shown)

    return await act(call, done, refused)


@router.get("/triage/{item_id}", summary="One held report.")
async def item_page(item_id: UUID, request: Request, user: WebSession = Depends(page("triage"))) -> HTMLResponse:
    """What the PSP may know of it, its decision, and (while open) the dispatch and dismiss forms."""
    if (item := await _found(request, user, str(item_id))) is None:
        return _missing(request, user)
    return _show(request, user, item)


@router.post("/triage/{item_id}/lookup", summary="Look a staff id up in the directory (an audited reveal).")
async def lookup(
    item_id: UUID,
    request: Request,
    user: WebSession = Depends(current_user),
    form: Form = Depends(checked_form("triage")),
) -> HTMLResponse:
    """Notification's ``GET /v1/directory/{staff_id}`` (audited there); the answer shown on this page only."""
    iid, staff_id = str(item_id), (form.get("staff_id") or [""])[0].strip()
    if (item := await _found(request, user, iid)) is None:
        return _missing(request, user)
    if not staff_id or len(staff_id) > t.MAX_ID:
        problem = f"Staff id to look up: enter one (up to {t.MAX_ID} characters)."
        return _show(request, user, item, status=422, problems=[problem])
    notification = request.app.state.console.backends.notification
    try:
        person = await notification.get_json(f"/v1/directory/{quote(staff_id, safe='')}", user.access_token)
    except NotFound:
        problem = "Nobody with this staff id is in the directory. Check the id, or load the directory first."
        return _show(request, user, item, status=404, problems=[problem])
    except (Invalid, Conflict) as exc:
        return _show(request, user, item, status=exc.status, problems=[exc.message_for_page])
    except BackendError as exc:
        return _show(request, user, item, status=exc.status, problems=[_problem(exc)])
    form_rows = t.rows_wanted((form.get("rows") or [str(t.ATTACH_ROWS)])[0])
    return _show(request, user, item, t.blank_form(form_rows, staff_id), person=person)


@router.post("/triage/{item_id}/dispatch", summary="Attach people and dispatch.")
async def dispatch(
    item_id: UUID,
    request: Request,
    user: WebSession = Depends(current_user),
    form: Form = Depends(checked_form("triage")),
) -> Response:
    """The listener publishes one incident (the normal path); a second submit publishes nothing again."""
    iid = str(item_id)
    if (item := await _found(request, user, iid)) is None:
        return _missing(request, user)
    typed = t.read_attach(form)
    identified = int(item.get("staff_identified") or 0)
    body, problems = t.dispatch_body(typed, needs_facility=not item.get("facility"), identified=identified)
    if body is None:
        return _show(request, user, item, typed, 422, ["Nothing was dispatched.", *problems])
    call = request.app.state.console.backends.listener.request(
        "POST", f"/v1/triage/{iid}:dispatch", user.access_token, json=body
    )

    def done(response: Any) -> str:  # 202: dispatched now; 200: it was already
        return f"/triage/{iid}?notice={'triage_dispatched' if response.status_code == 202 else 'triage_already'}"

    return await _act(request, user, iid, call, done, form=typed)


@router.post("/triage/{item_id}/dismiss", summary="Dismiss with a reason.")
async def dismiss(
    item_id: UUID,
    request: Request,
    user: WebSession = Depends(current_user),
    form: Form = Depends(checked_form("triage")),
) -> Response:
    """Close it without outreach; the reason comes from the listener's closed list (no free text)."""
    iid, reason = str(item_id), (form.get("reason") or [""])[0]
    if (item := await _found(request, user, iid)) is None:
        return _missing(request, user)
    if reason not in t.DISMISS_REASONS:
        return _show(request, user, item, status=422, problems=["Reason: choose why it needs no outreach."])
    call = request.app.state.console.backends.listener.post_json(
        f"/v1/triage/{iid}:dismiss", user.access_token, {"reason": reason}
    )
    return await _act(request, user, iid, call, f"/triage/{iid}?notice=triage_dismissed")
