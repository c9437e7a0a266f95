"""``GET /v1/pages/{token}/case``: the acknowledging supporter's case page (HTML), authorized by its view token.

Private like every page-link response (PrivateLinkHeaders: no-store, no-referrer, not framed). With
``PSP_SUPPORTER_PAGE_REQUIRE_SSO`` the colleague is revealed only to a supporter bearer token (hospital SSO)
whose staff_id is the link's recipient; anything else gets 401 and a sign-in message.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.security.utils import get_authorization_scheme_param

from psp_common.auth import Principal, Scope, authenticate, own_refs
from psp_notification import supporter_page
from psp_notification.domain.errors import DomainError
from psp_notification.entrypoints import html
from psp_notification.entrypoints.pages import RESPONSES, Token, as_actor, refused

router = APIRouter(tags=["pages"])
SIGN_IN = (
    "This page shows a colleague's name and contact details, so it needs you to sign in.",
    "Sign in with your hospital account (SSO) on this device, then open the link from your page message again.",
)
CASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **RESPONSES,
    401: {"description": "PSP_SUPPORTER_PAGE_REQUIRE_SSO: no supporter token of the link's recipient."},
}


async def _signed_in_refs(request: Request) -> tuple[str, ...] | None:
    """With SSO required: the bearer's pseudonyms (empty when missing, invalid or not a supporter)."""
    c = request.app.state.container
    if not c.settings.supporter_page_require_sso:
        return None
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not credentials:
        return ()
    try:
        principal: Principal = await authenticate(request.app.state.runtime.tokens, credentials)
    except Exception:  # 401/503 from the verifier: not signed in as far as this page is concerned
        return ()
    request.state.principal = principal
    return own_refs(principal, c.pseudo) if principal.has(Scope.SUPPORTER) else ()


@router.get(
    "/v1/pages/{token}/case",
    response_class=HTMLResponse,
    responses=CASE_RESPONSES,
    summary="The supporter's case page after acknowledging: colleague, contact, urgency, deadlines, guide "
    "(each person shown is audited).",
)
async def case_page(token: Token, request: Request) -> Response:
    """Reveal the colleague to the supporter who holds the case; others learn only that someone has it."""
    c = request.app.state.container
    viewer = await _signed_in_refs(request)
    if viewer == ():
        return html.message("Sign in to see this case", *SIGN_IN, status=401)
    try:
        async with c.runtime.uow() as uow:
            recipient, shown = await supporter_page.view(uow, token, c.settings, c.clock.now(), viewer)
    except supporter_page.NotTheRecipient:
        return html.message("Sign in to see this case", *SIGN_IN, status=401)
    except DomainError as exc:
        return refused(request, exc)
    if getattr(request.state, "principal", None) is None:  # signed in: the SSO subject is the actor
        as_actor(request, recipient)
    if isinstance(shown, supporter_page.Withheld):
        return html.message("Thank you", shown.reason)
    return html.page("case.html", "Your peer support case", v=html.case_context(shown, c.settings))
