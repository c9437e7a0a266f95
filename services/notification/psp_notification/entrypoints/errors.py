"""Domain errors -> HTTP: the only place a refusal becomes a status code (the body names the field and why)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from psp_common.http import ErrorResponse, FieldError
from psp_notification.domain.errors import Conflict, DomainError, Gone, Invalid, NotAllowed, NotFound

STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),  # unknown, or not the caller's (answered alike)
    (NotAllowed, 403),  # an unknown or altered link, a form not from the page, not the holder
    (Conflict, 409),  # not possible in the current state
    (Gone, 410),  # a link expired or used up
    (Invalid, 422),  # values that do not fit
)


def status_of(exc: DomainError) -> int:
    """The status code of a domain refusal (409 for a refusal of no known kind)."""
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 409)


def error(status: int, field: str, reason: str) -> JSONResponse:
    """A 4xx naming field and reason."""
    body = ErrorResponse(detail=reason, errors=[FieldError(field=field, reason=reason)])
    return JSONResponse(body.model_dump(), status_code=status)


def refused(exc: DomainError) -> JSONResponse:
    """A domain refusal as a 4xx naming the field (never the value)."""
    return error(status_of(exc), exc.field, exc.reason)
