"""What every page shares: templates, the signed-in user, role checks, CSRF, error pages and security headers.

A page module uses three things from here::

    router = APIRouter()

    @router.get("/board")
    async def board(request: Request, user: WebSession = Depends(page("board"))) -> HTMLResponse:
        return render(request, user, "board.html", "Live board", cases=...)

    @router.post("/cases/{case_id}/close")
    async def close(request: Request, form: Form = Depends(checked_form("case"))) -> Response: ...

``page(key)`` requires a session (else a redirect to sign-in) and a role that :data:`domain.access.PAGES` allows
for ``key`` (else the 403 page); ``checked_form(key)`` adds the CSRF check for POSTs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psp_console.adapters.services import BackendError, Conflict, Invalid, NotFound, NotSignedIn
from psp_console.adapters.sessions import WebSession
from psp_console.domain.access import PAGES, PageSpec, nav_for, role_labels
from psp_console.domain.session import safe_return_path, same

log = logging.getLogger("psp.console.web")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MAX_FORM_BYTES = 64 * 1024
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"

templates = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True
)

templates.filters["segment"] = lambda value: quote(str(value), safe="")
"""``{{ staff_id | segment }}``: one URL path segment ("/", "?", "#", "%" escaped; routes take ``{x:path}``)."""

NOTICES: dict[str, str] = {"signed_in": "You are signed in."}
"""Short confirmations a page may show after a redirect (``?notice=<key>``); page modules add theirs."""

Form = dict[str, list[str]]


def session_cookie(request: Request) -> str:
    """The session cookie's name: ``__Host-`` prefixed when cookies are Secure."""
    return "__Host-psp_session" if request.app.state.console.settings.secure_cookies else "psp_session"


def render(
    request: Request,
    user: WebSession | None,
    template: str,
    title: str,
    status: int = 200,
    errors: list[str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page: ``template`` (extending base.html) with the user, their nav and the CSRF token."""
    notice = NOTICES.get(request.query_params.get("notice", ""))
    settings = request.app.state.console.settings
    body = templates.get_template(template).render(
        local=lambda at, facility=None: local_time(at, settings.zone_of(facility)),
        title=title,
        user=user,
        roles=role_labels(user.scopes) if user else [],
        nav=nav_for(user.scopes) if user else [],
        current=request.url.path,
        csrf=user.csrf_token if user else "",
        notice=notice,
        errors=errors or [],
        **context,
    )
    return HTMLResponse(body, status_code=status)


def local_time(at: datetime | str | None, zone: ZoneInfo) -> str:
    """A time (or a service's ISO 8601 string) as the facility reads it: ``Mon 23 Nov 14:30 EST``."""
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return ""
    return at.astimezone(zone).strftime("%a %d %b %H:%M %Z") if at is not None else ""


@dataclass
class NeedsSignIn(Exception):
    """No live session: the browser goes to sign-in and comes back to ``return_to``."""

    return_to: str


@dataclass
class NotPermitted(Exception):
    """The user's roles do not open this page."""

    user: WebSession
    spec: PageSpec


@dataclass
class CsrfRefused(Exception):
    """A POST without this session's CSRF token."""

    user: WebSession | None = None
    detail: list[str] = field(default_factory=list)


def _return_to(request: Request) -> str:
    """Where to come back after sign-in: this page, or for an htmx fragment the page it was polled from."""
    if _is_htmx(request) and request.headers.get("HX-Current-URL"):
        parts = urlsplit(request.headers["HX-Current-URL"])
        return safe_return_path(parts.path + (f"?{parts.query}" if parts.query else ""))
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


async def current_user(request: Request) -> WebSession:
    """The signed-in user (their session's idle expiry moved on); NeedsSignIn when there is none."""
    console = request.app.state.console
    user: WebSession | None = await console.sessions.use(
        request.cookies.get(session_cookie(request)), console.clock.now()
    )
    if user is None:
        raise NeedsSignIn(_return_to(request) if request.method == "GET" else "/")
    request.state.user = user
    return user


def page(key: str, audit: bool = True) -> Callable[..., Awaitable[WebSession]]:
    """Dependency of a page area's routes: a session whose roles open page ``key``.

    Refusals are audited, and so is every view of a page that shows case data (``audit=False`` for a live
    fragment the audited page polls, so a board left open does not write a row every few seconds).
    """
    spec = PAGES[key]

    async def dependency(request: Request, user: WebSession = Depends(current_user)) -> WebSession:
        console = request.app.state.console
        allowed = spec.allows(user.scopes)
        if (spec.reveals_case_data and audit) or not allowed:
            action = "VIEW" if request.method == "GET" else request.method
            status = 200 if allowed else 403
            await console.audit.record(console.clock.now(), user.subject, user.scopes, action, request.url.path, status)
        if not allowed:
            raise NotPermitted(user, spec)
        return user

    return dependency


async def read_form(request: Request) -> Form:
    """The URL-encoded form of a POST (capped; no multipart)."""
    body = await request.body()
    return parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"), max_num_fields=200)


def check_csrf(request: Request, user: WebSession, form: Form) -> None:
    """The session's CSRF token in the form (``csrf``) or, from htmx, the ``X-CSRF-Token`` header."""
    sent = form.get(CSRF_FIELD, [None])[0] or request.headers.get(CSRF_HEADER)
    if not same(sent, user.csrf_token):
        raise CsrfRefused(user)


def checked_form(key: str) -> Callable[..., Awaitable[Form]]:
    """Dependency of a page area's POST routes: ``page(key)`` plus the CSRF check; yields the form."""

    async def dependency(request: Request, user: WebSession = Depends(page(key))) -> Form:
        form = await read_form(request)
        check_csrf(request, user, form)
        return form

    return dependency


async def act(
    call: Awaitable[Any],
    done: str | Callable[[Any], str],
    refused: Callable[[BackendError], Awaitable[Response]],
) -> Response:
    """A form's service call: on success a redirect (303) to ``done`` (a path, or one made of the answer); when
    the service refuses it (409, 422, 404) the page again from ``refused(exc)``; other failures: the error pages."""
    try:
        answer = await call
    except (Conflict, Invalid, NotFound) as exc:
        return await refused(exc)
    return RedirectResponse(done if isinstance(done, str) else done(answer), status_code=303)


def refused_fields(exc: BackendError) -> list[tuple[str, str]]:
    """The fields a service's refusal names, with each one's reason (never a value)."""
    return [(f, r) for f, r in getattr(exc, "fields", []) if f and r]


def refusal_lines(exc: BackendError, label: Callable[[str], str] | None = None) -> list[str]:
    """What a page says of a service's refusal: with ``label`` (a field's name on the form), one line per field
    the service named ("Name: too long."); otherwise, or when it named none, its sentence (which names them)."""
    named = [f"{label(f)}: {r}." for f, r in refused_fields(exc)] if label else []
    return named or [exc.message_for_page]


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def install(app: FastAPI) -> None:
    """Error pages for the exceptions above and for the services' refusals; security headers on every answer."""

    async def on_sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NeedsSignIn)
        target = "/auth/login?next=" + quote(exc.return_to, safe="")
        if _is_htmx(request):  # a fragment request: send the whole page to sign-in
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotPermitted)
        needed = role_labels(frozenset(s.value for s in exc.spec.scopes))
        return render(request, exc.user, "forbidden.html", "Not for your role", 403, spec=exc.spec, needed=needed)

    async def on_csrf(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CsrfRefused)
        message = "This form was not sent from a page of this session. Reload the page and send it again."
        return render(request, exc.user, "error.html", "Form refused", 403, errors=[message])

    async def on_backend(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BackendError)
        user = getattr(request.state, "user", None)
        if isinstance(exc, NotSignedIn) and user is not None:
            await request.app.state.console.sessions.end(request.cookies.get(session_cookie(request)))
            return await on_sign_in(request, NeedsSignIn(_return_to(request)))
        return render(request, user, "error.html", "Something did not work", exc.status, errors=[exc.message_for_page])

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = ", ".join(sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})) or "the address"
        message = f"This address is not valid ({fields}). Go back and follow a link from the console."
        return render(request, getattr(request.state, "user", None), "error.html", "Not found", 404, [message])

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("page failed: %s", type(exc).__name__, exc_info=exc)
        message = "Something went wrong in the console. Reload the page; if it happens again, tell IT (console log)."
        return render(
            request, getattr(request.state, "user", None), "error.html", "Something went wrong", 500, [message]
        )

    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(Exception, on_crash)
    app.add_exception_handler(NeedsSignIn, on_sign_in)
    app.add_exception_handler(NotPermitted, on_forbidden)
    app.add_exception_handler(CsrfRefused, on_csrf)
    app.add_exception_handler(BackendError, on_backend)
    issuer = urlsplit(str(app.state.console.settings.console_oidc_issuer or ""))
    app.add_middleware(SecurityHeaders, provider=f"{issuer.scheme}://{issuer.netloc}" if issuer.netloc else "")


def csp(provider: str = "") -> str:
    """The console's CSP; the sign-out form may end at the identity provider (its origin: RP-initiated logout)."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        f"form-action 'self'{' ' + provider if provider else ''}; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    )


FIXED_HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
                 (b"referrer-policy", b"same-origin")]  # fmt: skip


class SecurityHeaders:
    """CSP (scripts and styles from the console only), no framing, no sniffing; pages are never cached."""

    def __init__(self, app: ASGIApp, provider: str = "") -> None:
        self.app = app
        self.headers = [(b"content-security-policy", csp(provider).encode()), *FIXED_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + self.headers
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
