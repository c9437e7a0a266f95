"""Page links: ``/v1/pages/{token}/ack|decline``, authorized by the link's own token instead of a bearer.

A GET only checks the link and shows a confirmation form (mail scanners prefetch links); the POST answers
and uses the token up. Every response here is private: never cached, no Referer carrying the token onward,
not framed. The audit log records the link's recipient (a pseudonym) as the actor, never the token.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psp_common.auth import Principal
from psp_common.http import ERROR_RESPONSES, ErrorResponse
from psp_notification import answers
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.repository import Repository
from psp_notification.adapters.schemas import PageAnswer
from psp_notification.domain.errors import DomainError
from psp_notification.domain.tokens import Action
from psp_notification.entrypoints import html
from psp_notification.entrypoints.errors import refused as refused_json
from psp_notification.entrypoints.errors import status_of

PREFIX = "/v1/pages/"
PRIVATE_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (
        b"content-security-policy",
        f"default-src 'none'; style-src '{html.STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'".encode(),
    ),
]

router = APIRouter(tags=["pages"])
Token = Annotated[str, Path(min_length=1, max_length=200, description="Page link token (random, single-use).")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    303: {"description": "Browsers (Accept: text/html): acknowledged, see the case page."},
    403: {"model": ErrorResponse, "description": "Unknown link, or a link for another action."},
    409: {"model": ErrorResponse, "description": "Not possible in the case's current state."},
    410: {"model": ErrorResponse, "description": "Link expired or already used."},
}
REFUSED = {
    403: "This link is not valid. Use the link from your page message as it was sent.",
    409: "This case no longer needs your answer: another supporter has this case, or it was settled.",
    410: "This link has expired or was already used.",
}


class PrivateLinkHeaders:
    """ASGI middleware: the private headers on every response under ``/v1/pages/`` (errors included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *PRIVATE_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def as_actor(request: Request, recipient_ref: str) -> None:
    request.state.principal = Principal(subject=f"page-link:{recipient_ref}", scopes=frozenset())


def refused(request: Request, exc: DomainError) -> Response:
    """A refused link: a page for browsers, the field error for API clients."""
    if html.wants_html(request):
        status = status_of(exc)
        return html.message("Link not usable", REFUSED.get(status, exc.reason), status=status)
    return refused_json(exc)


async def _confirm(request: Request, token: str, action: Action) -> Response:
    c = request.app.state.container
    async with c.runtime.session() as session:
        try:
            link, page = await answers.resolve(
                Repository(session), LinkRepository(session), token, action, c.clock.now()
            )
        except DomainError as exc:
            return refused(request, exc)
    as_actor(request, link.recipient_ref)
    if action is Action.DECLINE:
        return html.page("decline.html", "Decline this page?")
    s = c.settings
    return html.page(
        "ack.html",
        "Peer support needed",
        urgency=html.urgency_label(page.urgency),
        callback=html.duration(s.callback_minutes),
        meet=html.duration(s.contact_deadline_hours * 60),
    )


async def _choice(request: Request, action: Action) -> Action:
    """The acknowledge page's "I can't" button declines with the same link (form field ``choice``)."""
    if action is Action.ACK and "form-urlencoded" in request.headers.get("content-type", ""):
        choice = parse_qs((await request.body()).decode("utf-8", "replace")).get("choice", [""])[0]
        if choice == Action.DECLINE.value:
            return Action.DECLINE
    return action


async def _answer(request: Request, token: str, action: Action) -> Response:
    c = request.app.state.container
    act = await _choice(request, action)
    ttl = c.settings.token_ttl_minutes
    try:
        async with c.runtime.uow() as uow:
            done = await answers.answer(uow, token, action, c.clock.now(), view_ttl=timedelta(minutes=ttl), act=act)
    except DomainError as exc:
        return refused(request, exc)
    as_actor(request, done.recipient_ref)
    c.dispatcher.wake()
    case_page = f"{PREFIX}{done.view_token}/case" if done.view_token else None
    if html.wants_html(request):
        if case_page:
            return RedirectResponse(case_page, status_code=303)
        return html.message("Thank you", _THANKS.get(done.result, done.result))
    return JSONResponse(PageAnswer(result=done.result, case_page=case_page).model_dump(exclude_none=True))


_THANKS = {
    "declined": "Declining is fine. The next supporter will be asked.",
    "already declined": "You already declined this page.",
    "handed back": "You handed the case back. The next supporter will be asked.",
    "not needed: another supporter has taken the case": "Another supporter has this case. Thank you for answering.",
}


@router.get(
    "/v1/pages/{token}/ack",
    response_class=HTMLResponse,
    responses=RESPONSES,
    summary="Confirmation form for acknowledging (a GET never changes state: link scanners prefetch).",
)
async def ack_form(token: Token, request: Request) -> Response:
    """Check the link, then ask for a POST."""
    return await _confirm(request, token, Action.ACK)


@router.post(
    "/v1/pages/{token}/ack",
    response_model=PageAnswer,
    responses=RESPONSES,
    summary="Acknowledge a page (take the case; form field choice=decline declines instead); uses the link up. "
    "Returns the case page's address (a 303 to it for browsers).",
)
async def ack_page(token: Token, request: Request) -> Response:
    """Check the link and acknowledge."""
    return await _answer(request, token, Action.ACK)


@router.get(
    "/v1/pages/{token}/decline",
    response_class=HTMLResponse,
    responses=RESPONSES,
    summary="Confirmation form for declining (a GET never changes state).",
)
async def decline_form(token: Token, request: Request) -> Response:
    """Check the link, then ask for a POST."""
    return await _confirm(request, token, Action.DECLINE)


@router.post(
    "/v1/pages/{token}/decline",
    response_model=PageAnswer,
    responses=RESPONSES,
    summary="Decline a page (the next backup is paged); uses the link up.",
)
async def decline_page(token: Token, request: Request) -> Response:
    """Check the link and decline."""
    return await _answer(request, token, Action.DECLINE)
