"""The four services' HTTP APIs, called with the signed-in user's access token (never their databases).

One :class:`ServiceApi` per service (``Backends.matching.get_json("/v1/assignments", token)``). A refusal or an
outage becomes a :class:`BackendError` the pages turn into a sentence saying what to do; nothing from the
service's answer body is shown (it could name a field, never a value, but the page does not need it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from psp_console.metrics import ConsoleMetrics, call_outcome
from psp_console.settings import ConsoleSettings


class BackendError(Exception):
    """A service call that did not work; ``status`` is what the console answers, ``message`` what it says."""

    status = 502

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message

    @property
    def message_for_page(self) -> str:
        """The sentence a page shows: which service, what happened, what to do."""
        return f"The {self.service} service {self.message}."


class NotSignedIn(BackendError):
    """The service refused the access token (expired or revoked): sign in again."""

    status = 401


class NotAllowed(BackendError):
    """The service says the user's role may not do this."""

    status = 403


class NotFound(BackendError):
    """The service knows no such thing (or it is not the user's)."""

    status = 404


class Refused(BackendError):
    """The service refused the request; ``fields`` names each field and the reason (never a value)."""

    def __init__(self, service: str, message: str, fields: list[tuple[str, str]]) -> None:
        super().__init__(service, message)
        self.fields = fields

    @property
    def message_for_page(self) -> str:
        """Which service refused, and each field's reason."""
        reasons = "; ".join(f"{field}: {why}" for field, why in self.fields if field and why)
        return f"The {self.service} service {self.message}" + (f" ({reasons})." if reasons else ".")


class Conflict(Refused):
    """The service refused a change in the current state (a closed case, a supporter not eligible)."""

    status = 409


class Invalid(Refused):
    """The service refused the input."""

    status = 422


class Unavailable(BackendError):
    """The service cannot be reached, timed out or failed (5xx)."""

    status = 503


def _detail(response: httpx.Response) -> tuple[str, list[tuple[str, str]]]:
    """A service's 4xx summary and field errors (``ErrorResponse``: field names and reasons, never values)."""
    try:
        body = response.json()
    except ValueError:
        return "", []
    if not isinstance(body, dict):
        return "", []
    detail = body.get("detail")
    raw = body.get("errors")
    errors: list[Any] = raw if isinstance(raw, list) else []
    fields = [(str(e.get("field", "")), str(e.get("reason", ""))) for e in errors if isinstance(e, dict)]
    return (detail if isinstance(detail, str) else ""), fields


@dataclass
class ServiceApi:
    """One service's API."""

    name: str
    base_url: str
    http: httpx.AsyncClient
    metrics: ConsoleMetrics | None = None

    async def request(
        self, method: str, path: str, token: str, accept: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """Call the API as the signed-in user; a refusal or an outage raises a BackendError.

        ``accept``: error statuses returned as they are (an import's 422 is a report of rows the page shows).
        """
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}", "Accept": "application/json"}
        started = time.perf_counter()
        try:
            response = await self.http.request(method, self.base_url.rstrip("/") + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self._observe(None, started)
            raise Unavailable(self.name, f"cannot be reached ({type(exc).__name__}); try again in a moment") from exc
        self._observe(response.status_code, started)
        if response.status_code < 400 or response.status_code in accept:
            return response
        raise self._error(response)

    def _observe(self, status: int | None, started: float) -> None:
        if self.metrics is not None:
            self.metrics.backend_call(self.name, call_outcome(status), time.perf_counter() - started)

    def _error(self, response: httpx.Response) -> BackendError:
        code = response.status_code
        if code == 401:
            return NotSignedIn(self.name, "did not accept your sign-in; sign in again")
        if code == 403:
            return NotAllowed(self.name, "says your role may not do this")
        if code == 404:
            return NotFound(self.name, "knows no such record (it may have been purged, or is not yours)")
        detail, fields = _detail(response)
        if code == 409:
            return Conflict(self.name, f"refused: {detail or 'not possible in the current state'}", fields)
        if code in (400, 413, 422):
            return Invalid(self.name, f"refused the input: {detail or 'invalid'}", fields)
        return Unavailable(self.name, f"failed (HTTP {code}); try again in a moment")

    async def get_json(self, path: str, token: str, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON document."""
        return (await self.request("GET", path, token, params=params)).json()

    async def post_json(self, path: str, token: str, body: Any = None) -> Any:
        """POST a JSON body; the answer's JSON (None for an empty answer)."""
        response = await self.request("POST", path, token, json=body)
        return response.json() if response.content else None

    async def upload(
        self, path: str, token: str, content: bytes, content_type: str, params: dict[str, Any] | None = None
    ) -> tuple[bool, Any]:
        """POST a document (CSV, iCalendar, FHIR JSON); (accepted, the service's report), a 400/422 one included."""
        response = await self.request(
            "POST",
            path,
            token,
            accept=(400, 422),
            content=content,
            headers={"content-type": content_type},
            params=params,
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code < 400, body

    async def ready(self) -> bool:
        """Whether the service answers its readiness probe (no token)."""
        try:
            return (await self.http.get(self.base_url.rstrip("/") + "/readyz")).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class Backends:
    """The four services, sharing one HTTP client."""

    listener: ServiceApi
    rules: ServiceApi
    matching: ServiceApi
    notification: ServiceApi
    http: httpx.AsyncClient

    @classmethod
    def from_settings(
        cls,
        settings: ConsoleSettings,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: ConsoleMetrics | None = None,
    ) -> Backends:
        """Clients for the URLs in the settings (``transport`` for tests that serve the apps in-process)."""
        http = httpx.AsyncClient(
            timeout=settings.console_backend_timeout_s, follow_redirects=False, trust_env=False, transport=transport
        )
        return cls(
            listener=ServiceApi("listener", settings.listener_url, http, metrics),
            rules=ServiceApi("rules", settings.rules_url, http, metrics),
            matching=ServiceApi("matching", settings.matching_url, http, metrics),
            notification=ServiceApi("notification", settings.notification_url, http, metrics),
            http=http,
        )

    def all(self) -> list[ServiceApi]:
        """The four, in pipeline order."""
        return [self.listener, self.rules, self.matching, self.notification]

    async def aclose(self) -> None:
        """Close the shared client."""
        await self.http.aclose()
