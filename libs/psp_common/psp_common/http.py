"""HTTP conventions: errors name the field and the reason (never echo input), bodies have a size limit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psp_common.field_names import safe_loc
from psp_common.locks import lost_race


class FieldError(BaseModel):
    """One problem with the request."""

    field: str = Field(description="Dotted path of the offending field ('body' for the whole body).")
    reason: str = Field(description="Why it was rejected.")


class ErrorResponse(BaseModel):
    """Body of every 4xx answer."""

    detail: str = Field(description="Summary.")
    errors: list[FieldError] = Field(default_factory=list, description="Problems by field.")


def field_errors(exc: ValidationError | RequestValidationError) -> list[FieldError]:
    """Field paths (schema names only) and messages, without the offending input values or keys."""
    out = []
    for err in exc.errors()[:50]:
        loc = [str(p) for p in safe_loc(err)]
        if loc and loc[0] == "body":
            loc = loc[1:]
        out.append(FieldError(field=".".join(loc) or "body", reason=str(err.get("msg", "invalid"))))
    return out


def validation_response(exc: ValidationError | RequestValidationError) -> JSONResponse:
    """400 for unparseable JSON, 422 for a well-formed body that breaks the contract."""
    errors = field_errors(exc)
    malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
    status = 400 if malformed else 422
    detail = "malformed JSON" if malformed else "request does not match the contract"
    body = ErrorResponse(detail=detail, errors=errors).model_dump()
    return JSONResponse(body, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Answer validation failures with field + reason, and a database outage (or a transaction PostgreSQL aborted
    for a deadlock) with 503 + Retry-After."""

    async def on_request_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        return validation_response(exc)

    async def on_database_error(_: Request, exc: Exception) -> JSONResponse:
        outage = isinstance(exc, OperationalError | InterfaceError) or (
            isinstance(exc, DBAPIError) and (exc.connection_invalidated or lost_race(exc))
        )
        if not outage:
            raise exc
        body = ErrorResponse(
            detail="database unavailable; nothing was stored, retry the request",
            errors=[FieldError(field="<service>", reason=f"database: {type(exc).__name__}")],
        ).model_dump()
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(ValidationError, on_request_validation)
    app.add_exception_handler(DBAPIError, on_database_error)


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``max_bytes`` (declared or streamed); paths starting with a prefix
    of ``larger`` (e.g. a directory upload) get that prefix's limit instead."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}

    def _limit(self, path: str) -> int:
        return next((n for prefix, n in self.larger.items() if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(str(scope.get("path", "")))
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(send, limit)

    async def _reject(self, send: Send, limit: int) -> None:
        body = (
            ErrorResponse(
                detail="request body too large",
                errors=[FieldError(field="body", reason=f"larger than {limit} bytes")],
            )
            .model_dump_json()
            .encode()
        )
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON."},
    413: {"model": ErrorResponse, "description": "Body too large."},
    422: {"model": ErrorResponse, "description": "Body breaks the contract; each field with its reason."},
}


def as_utc(value: datetime | None) -> datetime | None:
    """A query-parameter time in UTC; naive times are taken as UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
