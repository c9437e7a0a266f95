"""Page links: ``/v1/pages/{token}/ack|decline``, authorized by the link's own token instead of a bearer.

A GET only checks the link and shows a confirmation form (mail scanners prefetch links); the POST answers
and uses the token up. Every response here is private: never cached, no Referer carrying the token onward,
not framed. The audit log records the link's recipient (a pseudonym) as the actor, never the token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psp_common.auth import Principal
from psp_common.http import ERROR_RESPONSES, ErrorResponse
from psp_notification import answers
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.repository import Repository
from psp_notification.adapters.schemas import ActionResult
from psp_notification.domain.tokens import Action
from psp_notification.entrypoints.api import error
from psp_notification.handlers import ActionError

PREFIX = "/v1/pages/"
PRIVATE_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
]

router = APIRouter(tags=["pages"])
Token = Annotated[str, Path(min_length=1, max_length=200, description="Page link token (random, single-use).")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: {"model": ErrorResponse, "description": "Unknown link, or a link for another action."},
    409: {"model": ErrorResponse, "description": "Not possible in the case's current state."},
    410: {"model": ErrorResponse, "description": "Link expired or already used."},
}
CONFIRM = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>PSP page</title></head>
<body><p>{question}</p><form method="post"><button type="submit">{label}</button></form></body></html>"""
QUESTIONS = {
    Action.ACK: ("A colleague may need peer support. Will you take this?", "Acknowledge"),
    Action.DECLINE: ("Decline this page? The next supporter will be asked.", "Decline"),
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


def _as_actor(request: Request, recipient_ref: str) -> None:
    request.state.principal = Principal(subject=f"page-link:{recipient_ref}", scopes=frozenset())


async def _confirm(request: Request, token: str, action: Action) -> Any:
    c = request.app.state.container
    async with c.runtime.session() as session:
        try:
            link = await answers.resolve(Repository(session), LinkRepository(session), token, action, c.clock.now())
        except ActionError as exc:
            return error(exc.status, exc.field, exc.reason)
    _as_actor(request, link.recipient_ref)
    question, label = QUESTIONS[action]
    return HTMLResponse(CONFIRM.format(question=question, label=label))


async def _answer(request: Request, token: str, action: Action) -> JSONResponse:
    c = request.app.state.container
    try:
        async with c.runtime.uow() as uow:
            done = await answers.answer(uow, token, action, c.clock.now())
    except ActionError as exc:
        return error(exc.status, exc.field, exc.reason)
    _as_actor(request, done.recipient_ref)
    c.dispatcher.wake()
    return JSONResponse(ActionResult(result=done.result).model_dump())


@router.get(
    "/v1/pages/{token}/ack",
    response_class=HTMLResponse,
    responses=RESPONSES,
    summary="Confirmation form for acknowledging (a GET never changes state: link scanners prefetch).",
)
async def ack_form(token: Token, request: Request) -> Any:
    """Check the link, then ask for a POST."""
    return await _confirm(request, token, Action.ACK)


@router.post(
    "/v1/pages/{token}/ack",
    response_model=ActionResult,
    responses=RESPONSES,
    summary="Acknowledge a page (take the case); uses the link up.",
)
async def ack_page(token: Token, request: Request) -> JSONResponse:
    """Check the link and acknowledge."""
    return await _answer(request, token, Action.ACK)


@router.get(
    "/v1/pages/{token}/decline",
    response_class=HTMLResponse,
    responses=RESPONSES,
    summary="Confirmation form for declining (a GET never changes state).",
)
async def decline_form(token: Token, request: Request) -> Any:
    """Check the link, then ask for a POST."""
    return await _confirm(request, token, Action.DECLINE)


@router.post(
    "/v1/pages/{token}/decline",
    response_model=ActionResult,
    responses=RESPONSES,
    summary="Decline a page (the next backup is paged); uses the link up.",
)
async def decline_page(token: Token, request: Request) -> JSONResponse:
    """Check the link and decline."""
    return await _answer(request, token, Action.DECLINE)
