"""The case page's actions: ``POST /v1/pages/{token}/contacted|encounter|offer-declined|hand-back|close``
(HTML forms).

Authorized by the view token in the path and the page's form token (hidden field ``csrf``, CSRF): a POST
without it, or from another page, changes nothing (403). Only the supporter who holds the case may act; the
audit middleware records each call with the token redacted and the supporter's pseudonym as the actor.
Browsers get a 303 back to the case page; an encounter that does not fit re-renders the form naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from psp_common.db import UnitOfWork
from psp_notification import case_actions, supporter_page
from psp_notification.adapters import encounter_form
from psp_notification.domain.errors import DomainError, FormRefused, Invalid
from psp_notification.entrypoints import html
from psp_notification.entrypoints.pages import PREFIX, RESPONSES, Token, as_actor, refused
from psp_notification.feeds import facility_zone

router = APIRouter(tags=["pages"])
MAX_FORM = 4096  # bytes: the forms hold choices only
Form = dict[str, list[str]]
Act = Callable[[UnitOfWork, case_actions.Holder, Form, datetime], Awaitable[str]]
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **RESPONSES,
    403: {"description": "Unknown link, a form not from this page (csrf), or the case is another supporter's."},
    409: {"description": "The case is closed, or nobody holds it."},
    422: {"description": "An encounter value that does not fit (the form again, naming the field)."},
}


async def _form(request: Request) -> Form:
    body = await request.body()
    return parse_qs(body[:MAX_FORM].decode("utf-8", "replace"), max_num_fields=32)


async def _act(request: Request, token: str, act: Act) -> Response:
    c = request.app.state.container
    form = await _form(request)
    now = c.clock.now()
    try:
        async with c.runtime.uow() as uow:
            holder = await case_actions.holder(uow, token, form.get("csrf", [None])[0], now)
            as_actor(request, holder.supporter_ref)
            result = await act(uow, holder, form, now)
    except Invalid as exc:
        return await _form_again(request, token, exc, form)
    except DomainError as exc:
        if isinstance(exc, FormRefused) and html.wants_html(request):
            return html.message("Please try again", "This form has expired. Reload the case page.", status=403)
        return refused(request, exc)
    c.dispatcher.wake()
    if html.wants_html(request):
        return RedirectResponse(f"{PREFIX}{token}/case", status_code=303)
    return JSONResponse({"result": result})


async def _form_again(request: Request, token: str, exc: Invalid, form: Form) -> Response:
    """The case page again, the field that did not fit named (API clients: the field error)."""
    if not html.wants_html(request):
        return refused(request, exc)
    c = request.app.state.container
    async with c.runtime.uow() as uow:
        _, shown = await supporter_page.view(uow, token, c.settings, c.clock.now())
    if isinstance(shown, supporter_page.Withheld):
        return html.message("Thank you", shown.reason, status=409)
    error = {"field": exc.field, "reason": exc.reason}
    values = {k: v[0] for k, v in form.items() if k != "csrf"} | {"referrals": form.get("referrals", [])}
    v = html.case_context(shown, c.settings)
    return html.page("case.html", "Your peer support case", status=422, v=v, error=error, form=values)


@router.post(
    "/v1/pages/{token}/contacted",
    responses=ACTION_RESPONSES,
    summary='Case page: "I\'ve reached them" (contact made; the check-in reminders are scheduled).',
)
async def contacted(token: Token, request: Request) -> Response:
    """Mark the case contacted."""
    settings = request.app.state.container.settings

    async def act(uow: UnitOfWork, h: case_actions.Holder, form: Form, now: datetime) -> str:
        return await case_actions.contacted(uow, h, settings, now)

    return await _act(request, token, act)


@router.post(
    "/v1/pages/{token}/encounter",
    responses=ACTION_RESPONSES,
    summary="Case page: log an encounter (closed choices only, no free text; the encounter log's rules).",
)
async def encounter(token: Token, request: Request) -> Response:
    """Log an encounter from the form."""
    settings = request.app.state.container.settings

    async def act(uow: UnitOfWork, h: case_actions.Holder, form: Form, now: datetime) -> str:
        e = encounter_form.parse(form, facility_zone(settings, h.facility), now)
        return await case_actions.log_encounter(uow, h, e, settings, now)

    return await _act(request, token, act)


@router.post(
    "/v1/pages/{token}/offer-declined",
    responses=ACTION_RESPONSES,
    summary='Case page (referral offers): "They declined the offer" (logged as a support_declined encounter; the '
    "case closes quietly and is counted as declined).",
)
async def offer_declined(token: Token, request: Request) -> Response:
    """Record that the person declined the offer (how they were reached and how long: the form's choices)."""
    settings = request.app.state.container.settings

    async def act(uow: UnitOfWork, h: case_actions.Holder, form: Form, now: datetime) -> str:
        e = encounter_form.declined(form, now)
        return await case_actions.decline_offer(uow, h, e, settings, now)

    return await _act(request, token, act)


@router.post(
    "/v1/pages/{token}/hand-back",
    responses=ACTION_RESPONSES,
    summary='Case page: "I can\'t take this" (the next backup is paged, or the coordinator when none is left).',
)
async def hand_back(token: Token, request: Request) -> Response:
    """Give the case back."""

    async def act(uow: UnitOfWork, h: case_actions.Holder, form: Form, now: datetime) -> str:
        return await case_actions.hand_back(uow, h, now)

    return await _act(request, token, act)


@router.post("/v1/pages/{token}/close", responses=ACTION_RESPONSES, summary="Case page: close the case.")
async def close(token: Token, request: Request) -> Response:
    """Close the case (every pending page and reminder is cancelled)."""

    async def act(uow: UnitOfWork, h: case_actions.Holder, form: Form, now: datetime) -> str:
        return await case_actions.close(uow, h, now)

    return await _act(request, token, act)
