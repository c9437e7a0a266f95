"""Sign-in (OpenID Connect code flow with PKCE), sign-out and the signed-out page. Every step is audited."""

from __future__ import annotations

import logging
from datetime import timedelta

from authlib.common.security import generate_token
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from psp_common.auth import roles_in, scopes_from_claims
from psp_console.adapters.oidc import ProviderUnavailable
from psp_console.adapters.sessions import NewSession, WebSession
from psp_console.domain.session import PendingSignIn, SignInRefused, digest, new_secret, safe_return_path
from psp_console.entrypoints.web import check_csrf, current_user, read_form, render, session_cookie

log = logging.getLogger("psp.console.auth")
router = APIRouter()


def sign_in_cookie(request: Request) -> str:
    """The cookie binding a sign-in in progress to this browser."""
    return "__Host-psp_signin" if request.app.state.console.settings.secure_cookies else "psp_signin"


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.console.settings.secure_cookies,
    )


def _clear_cookie(request: Request, response: Response, name: str) -> None:
    secure = request.app.state.console.settings.secure_cookies
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


def _unavailable(request: Request) -> HTMLResponse:
    message = (
        "The sign-in service (the hospital's identity provider) cannot be reached. Try again in a minute; "
        "if it goes on, tell the IT service desk."
    )
    return render(request, None, "error.html", "Sign-in unavailable", 503, errors=[message])


@router.get("/auth/login", summary="Start signing in at the identity provider.")
async def login(request: Request, next: str = "/") -> Response:
    """Send the browser to the provider with a fresh state, nonce and PKCE verifier (kept server-side)."""
    console = request.app.state.console
    state, nonce, verifier, browser = new_secret(), new_secret(), generate_token(64), new_secret()
    pending = PendingSignIn(digest(browser), verifier, nonce, safe_return_path(next), console.clock.now())
    try:
        url = await console.oidc.authorization_url(state, nonce, verifier)
    except ProviderUnavailable as exc:
        log.warning("sign-in not started: %s", exc)
        return _unavailable(request)
    await console.sessions.start_sign_in(state, pending)
    response = RedirectResponse(url, status_code=303)
    _set_cookie(request, response, sign_in_cookie(request), browser, int(console.settings.console_login_timeout_s))
    return response


def _refused(request: Request, reason: str, status: int = 400) -> HTMLResponse:
    lines = [f"Sign-in did not complete: {reason}.", "Start again with the button below."]
    return render(request, None, "signin_failed.html", "Sign-in did not complete", status, errors=lines)


@router.get("/auth/callback", summary="Where the identity provider returns the browser.")
async def callback(request: Request) -> Response:
    """Check state (this browser's, unused, in time), redeem the code with the verifier, check the ID token."""
    console = request.app.state.console
    now, q = console.clock.now(), request.query_params
    state, code = q.get("state"), q.get("code")
    audit = console.audit
    if q.get("error"):
        await audit.record(now, "anonymous", frozenset(), "SIGNIN", "/auth/callback provider-error", 400)
        console.metrics.signed_in("provider_error")
        return _refused(request, "the identity provider did not sign you in")
    pending = await console.sessions.take_sign_in(state) if state else None
    try:
        if pending is None or not code:
            raise SignInRefused("this sign-in is unknown, was used already or has expired")
        timeout = timedelta(seconds=console.settings.console_login_timeout_s)
        pending.check(request.cookies.get(sign_in_cookie(request)), now, timeout)
        signed = await console.oidc.redeem(code, pending.code_verifier, pending.nonce, now)
    except SignInRefused as exc:
        await audit.record(now, "anonymous", frozenset(), "SIGNIN", "/auth/callback refused", 400)
        console.metrics.signed_in("refused")
        return _refused(request, str(exc))
    except ProviderUnavailable as exc:
        log.warning("sign-in not completed: %s", exc)
        console.metrics.signed_in("provider_unavailable")
        return _unavailable(request)
    claims, settings = signed.claims, console.settings
    scopes = scopes_from_claims(claims, settings)
    subject = str(claims["sub"])
    if not scopes:
        await audit.record(now, subject, scopes, "SIGNIN", "/auth/callback no-role", 403)
        console.metrics.signed_in("no_role")
        return render(request, None, "no_role.html", "No PSP role", 403)
    new = NewSession(
        subject=subject,
        display_name=str(claims.get("name") or claims.get("preferred_username") or subject)[:200],
        roles=roles_in(claims, settings),
        scopes=scopes,
        staff_id=claims.get("staff_id") if isinstance(claims.get("staff_id"), str) else None,
        access_token=signed.access_token,
        token_expires_at=signed.token_expires_at,
        id_token=signed.id_token,
    )
    session_id = await console.sessions.create(new, now)
    await audit.record(now, subject, scopes, "SIGNIN", "/auth/callback", 303)
    console.metrics.signed_in("signed_in")
    response = RedirectResponse(pending.return_to, status_code=303)
    max_age = int((signed.token_expires_at - now).total_seconds())
    _set_cookie(request, response, session_cookie(request), session_id, max(max_age, 0))
    _clear_cookie(request, response, sign_in_cookie(request))
    return response


async def _provider_sign_out(request: Request, id_token: str | None) -> str:
    """The provider's end-session URL (RP-initiated logout) when it has one, else the console's signed-out page."""
    try:
        url = await request.app.state.console.oidc.end_session_url(id_token)
    except ProviderUnavailable as exc:
        log.warning("provider session not ended: %s", exc)
        url = None
    return url or "/auth/signed-out"


@router.post("/auth/logout", summary="Sign out (ends the console session, then the provider's if it can).")
async def logout(request: Request, user: WebSession = Depends(current_user)) -> Response:
    """End the session (CSRF-checked), forget the cookie, then end the provider's session (RP-initiated logout)."""
    console = request.app.state.console
    check_csrf(request, user, await read_form(request))
    id_token = await console.sessions.end(request.cookies.get(session_cookie(request)))
    await console.audit.record(console.clock.now(), user.subject, user.scopes, "SIGNOUT", "/auth/logout", 303)
    response = RedirectResponse(await _provider_sign_out(request, id_token), status_code=303)
    _clear_cookie(request, response, session_cookie(request))
    return response


@router.get("/auth/signed-out", summary="You are signed out.")
async def signed_out(request: Request) -> HTMLResponse:
    """A page that needs no session."""
    return render(request, None, "signed_out.html", "Signed out")
