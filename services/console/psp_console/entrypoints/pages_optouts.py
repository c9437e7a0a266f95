"""Opt-outs (coordinators): opt a person out of proactive outreach, check, or opt them back in, by staff id, in the
rules service. The page shows the pseudonym and the scopes only: never a list, never a name beside a pseudonym.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from psp_console.adapters.services import Invalid
from psp_console.adapters.sessions import WebSession
from psp_console.domain.roster import Form, label
from psp_console.entrypoints.web import checked_form, page, render

router = APIRouter()
ALL = "all"


@dataclass(frozen=True)
class OptOutResult:
    """What the rules service holds for one person after the action."""

    done: str
    pseudonym: str
    scopes: list[str]


def _one(form: Form, name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def _page(
    request: Request, user: WebSession, status: int = 200, errors: list[str] | None = None, **ctx: Any
) -> HTMLResponse:
    return render(request, user, "opt_outs.html", "Opt-outs", status, errors, **ctx)


async def _call(request: Request, form: Form, action: str) -> HTMLResponse:
    user: WebSession = request.state.user
    staff_id, scope = _one(form, "staff_id"), _one(form, "scope")
    if not staff_id:
        return _page(request, user, 422, ["Staff id: enter the person's staff id."], action=action)
    rules = request.app.state.console.backends.rules
    path = f"/v1/opt-outs/{quote(staff_id, safe='')}"
    try:
        if action == "add":
            state = await rules.post_json(
                "/v1/opt-outs", user.access_token, {"staff_id": staff_id, "scope": scope or ALL}
            )
            done = f"Opted out of {scope or 'all outreach'}."
        elif action == "remove":
            params = {"scope": scope} if scope else None
            state = (await rules.request("DELETE", path, user.access_token, params=params)).json()
            done = f"Opted back in to {scope}." if scope else "Opted back in everywhere."
        else:
            state = await rules.get_json(path, user.access_token)
            done = "Checked."
    except Invalid as exc:
        lines = [f"{label(f)}: {r}." for f, r in exc.fields] or [exc.message_for_page]
        return _page(request, user, 422, ["Nothing was changed. " + lines[0], *lines[1:]], action=action)
    result = OptOutResult(done, str(state["pseudonym"]), [str(s) for s in state.get("scopes", [])])
    return _page(request, user, result=result, action=action)


@router.get("/opt-outs", summary="Opt-outs by staff id.")
async def opt_outs(request: Request, user: WebSession = Depends(page("opt_outs"))) -> HTMLResponse:
    """The three forms (no list)."""
    return _page(request, user)


@router.post("/opt-outs/add", summary="Opt a person out.")
async def add(request: Request, form: Form = Depends(checked_form("opt_outs"))) -> HTMLResponse:
    """Store the opt-out (the rules service keeps the pseudonym only)."""
    return await _call(request, form, "add")


@router.post("/opt-outs/check", summary="Check a person's opt-outs.")
async def check(request: Request, form: Form = Depends(checked_form("opt_outs"))) -> HTMLResponse:
    """Look up by staff id (POST: the id stays out of URLs and logs)."""
    return await _call(request, form, "check")


@router.post("/opt-outs/remove", summary="Opt a person back in.")
async def remove(request: Request, form: Form = Depends(checked_form("opt_outs"))) -> HTMLResponse:
    """Remove one scope, or all when none is given."""
    return await _call(request, form, "remove")
