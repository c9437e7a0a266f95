"""The dev provider's HTTP endpoints: discovery, JWKS, authorize (account chooser), token, end_session."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from psp_common.auth import Scope
from psp_common.clock import Clock, SystemClock
from psp_console.devidp.accounts import ACCOUNTS, DemoAccount
from psp_console.devidp.end_session import SESSION_COOKIE, LogoutRefused, hinted_client, redirect_target
from psp_console.devidp.settings import DEV_TOOLS_CLIENT, DevIdpSettings
from psp_console.devidp.tokens import Signer, s256

HERE = Path(__file__).resolve().parent
AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
                    "code_challenge_method")  # fmt: skip
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class Grant:
    """An issued authorization code's binding (kept in memory until used once or expired)."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    account: DemoAccount
    expires_at: datetime


class DevIdp:
    """State of one provider process: its key and the codes not yet redeemed."""

    def __init__(self, settings: DevIdpSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.signer = Signer(settings)
        self.codes: dict[str, Grant] = {}
        self.sessions: dict[str, str] = {}  # this provider's sign-ins: browser cookie -> demo account key

    def redirect_allowed(self, uri: str) -> bool:
        """A registered redirect URI, or (none registered) an http(s) URI on this machine."""
        if self.settings.devidp_redirect_uris:
            return uri in self.settings.devidp_redirect_uris
        parts = urlsplit(uri)
        return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost") and not parts.fragment

    def request_problem(self, p: dict[str, str]) -> str | None:
        """What is wrong with an authorization request once client and redirect URI are known good."""
        if p.get("response_type") != "code":
            return "unsupported_response_type"
        if "openid" not in p.get("scope", "").split():
            return "invalid_scope"
        if not p.get("code_challenge") or p.get("code_challenge_method") != "S256":
            return "invalid_request"  # PKCE with S256 is required
        return None

    def issue_code(self, p: dict[str, str], account: DemoAccount) -> str:
        """A single-use code bound to the client, redirect URI, PKCE challenge and nonce."""
        now = self.clock.now()
        self.codes = {c: g for c, g in self.codes.items() if g.expires_at > now}
        code = secrets.token_urlsafe(32)
        self.codes[code] = Grant(
            p["client_id"],
            p["redirect_uri"],
            p["code_challenge"],
            p.get("nonce") or None,
            account,
            now + timedelta(seconds=self.settings.devidp_code_ttl_s),
        )
        return code


def _token_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(template).render(**context), status_code=status)


def build(settings: DevIdpSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The provider's ASGI app."""
    settings = settings or DevIdpSettings()
    idp = DevIdp(settings, clock or SystemClock())
    app = FastAPI(title="PSP dev identity provider", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.idp = idp
    app.mount("/static", StaticFiles(directory=HERE.parent / "static"), name="static")
    issuer = settings.issuer

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks",
            **({"end_session_endpoint": f"{issuer}/end_session"} if settings.devidp_end_session else {}),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": ["sub", "name", "roles", "staff_id", "nonce"],
        }

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return idp.signer.jwks()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "devidp"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    def _authorize(p: dict[str, str], account_key: str | None, signed_in: str | None = None) -> Response:
        if p.get("client_id") not in settings.devidp_clients or not idp.redirect_allowed(p.get("redirect_uri", "")):
            return _page("error.html", 400, message="Unknown client or redirect URI: this sign-in cannot continue.")
        problem = idp.request_problem(p)
        if problem:
            query = urlencode({"error": problem, "state": p.get("state", "")})
            return RedirectResponse(f"{p['redirect_uri']}?{query}", status_code=303)
        if account_key is None:
            hidden = {k: p[k] for k in AUTHORIZE_PARAMS if k in p}
            known = ACCOUNTS.get(idp.sessions.get(signed_in or "", ""))
            return _page("choose.html", hidden=hidden, accounts=list(ACCOUNTS.values()), signed_in=known)
        account = ACCOUNTS.get(account_key)
        if account is None:
            return _page("error.html", 400, message="Choose one of the demo accounts.")
        code = idp.issue_code(p, account)
        query = urlencode({"code": code, "state": p.get("state", ""), "iss": issuer})
        response = RedirectResponse(f"{p['redirect_uri']}?{query}", status_code=303)
        session = signed_in if signed_in in idp.sessions else secrets.token_urlsafe(32)
        idp.sessions[session] = account.key
        response.set_cookie(SESSION_COOKIE, session, path="/", httponly=True, samesite="lax")
        return response

    @app.get("/authorize")
    async def authorize(request: Request) -> Response:
        """Check the request, then show the demo accounts to choose from."""
        return _authorize(dict(request.query_params), None, request.cookies.get(SESSION_COOKIE))

    @app.post("/authorize")
    async def choose(request: Request) -> Response:
        """The chosen account: issue a code and send the browser back to the client."""
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        return _authorize(form, form.get("account", ""), request.cookies.get(SESSION_COOKIE))

    @app.api_route("/end_session", methods=["GET", "POST"])
    async def end_session(request: Request) -> Response:
        """RP-initiated logout: forget this browser's sign-in, then back to a registered post-logout URI only."""
        params = dict(request.query_params)
        if request.method == "POST":
            body = (await request.body()).decode("utf-8", "replace")
            params |= {k: v[0] for k, v in parse_qs(body).items()}
        idp.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        try:
            hint = hinted_client(params.get("id_token_hint"), idp.signer.key.public_key(), issuer)
            target = redirect_target(settings, params, hint)
        except LogoutRefused as exc:
            response: Response = _page("error.html", 400, message=f"Signed out here, but {exc}.")
        else:
            response = RedirectResponse(target, status_code=303) if target else _page("signed_out.html")
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    @app.post("/token")
    async def token(request: Request) -> Response:
        """Authorization code (PKCE verified, code used once) or client credentials (dev tools)."""
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return _code_grant(idp, form)
        if grant_type == "client_credentials":
            return _tools_grant(idp, form)
        return _token_error("unsupported_grant_type", "authorization_code or client_credentials")

    return app


def _code_grant(idp: DevIdp, form: dict[str, str]) -> Response:
    grant = idp.codes.pop(form.get("code", ""), None)  # popped: a code works once
    now = idp.clock.now()
    if grant is None or grant.expires_at <= now:
        return _token_error("invalid_grant", "unknown, used or expired code")
    if form.get("client_id") != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
        return _token_error("invalid_grant", "code issued to another client or redirect URI")
    if s256(form.get("code_verifier", "")) != grant.code_challenge:
        return _token_error("invalid_grant", "code_verifier does not match the code challenge")
    signer = idp.signer
    return JSONResponse(
        {
            "access_token": signer.access_token(grant.account, now, grant.client_id),
            "id_token": signer.id_token(grant.account, now, grant.client_id, grant.nonce),
            "token_type": "Bearer",
            "expires_in": idp.settings.devidp_token_ttl_s,
            "scope": "openid profile",
        },
        headers={"Cache-Control": "no-store"},
    )


def _tools_grant(idp: DevIdp, form: dict[str, str]) -> Response:
    if form.get("client_id") != DEV_TOOLS_CLIENT:
        return _token_error("unauthorized_client", f"only {DEV_TOOLS_CLIENT} may use client credentials", 401)
    scopes = form.get("scope", "").split()
    known = {s.value for s in Scope}
    if not scopes or any(s not in known for s in scopes):
        return _token_error("invalid_scope", f"ask for one or more of {', '.join(sorted(known))}")
    subject = form.get("sub") or "dev-tools"
    now = idp.clock.now()
    access = idp.signer.tool_token(subject, scopes, now, form.get("staff_id") or None)
    return JSONResponse(
        {"access_token": access, "token_type": "Bearer", "expires_in": idp.settings.devidp_token_ttl_s},
        headers={"Cache-Control": "no-store"},
    )
