"""Refer (every signed-in role): ask for peer support for yourself, or refer a colleague, through the listener's
``POST /v1/referrals`` with the user's own token (the listener takes the person or the referrer from it)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from psp_console.adapters.services import Invalid
from psp_console.adapters.sessions import WebSession
from psp_console.domain.referral_form import KINDS, URGENCIES, ReferralForm, field_label
from psp_console.entrypoints.web import Form, checked_form, page, render

router = APIRouter()


def _page(
    request: Request, user: WebSession, status: int = 200, errors: list[str] | None = None, **ctx: Any
) -> HTMLResponse:
    ctx.setdefault("form", None)
    return render(
        request, user, "refer.html", "Refer", status, errors,
        kinds=KINDS, urgencies=URGENCIES, referral_id=uuid.uuid4().hex, **ctx,
    )  # fmt: skip


@router.get("/refer", summary="The referral form.")
async def refer(request: Request, user: WebSession = Depends(page("refer"))) -> HTMLResponse:
    """A fresh form (its hidden id makes a double submit one referral)."""
    return _page(request, user)


@router.post("/refer", summary="Send a referral.")
async def send(request: Request, form: Form = Depends(checked_form("refer"))) -> HTMLResponse:
    """Check the choices, send them to the listener as the signed-in user; say what happens next."""
    user: WebSession = request.state.user
    referral = ReferralForm.parse(form)
    problems = referral.problems()
    if problems:
        return _page(request, user, 422, ["Nothing was sent. " + problems[0], *problems[1:]], form=referral)
    listener = request.app.state.console.backends.listener
    try:
        answer = await listener.post_json("/v1/referrals", user.access_token, referral.body())
    except Invalid as exc:
        lines = [f"{field_label(f)}: {r}." for f, r in exc.fields] or [exc.message_for_page]
        return _page(request, user, 422, ["Nothing was sent. " + lines[0], *lines[1:]], form=referral)
    return _page(request, user, sent=referral, duplicate=(answer or {}).get("status") == "duplicate")
