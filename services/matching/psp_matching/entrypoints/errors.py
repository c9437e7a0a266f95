"""Small helpers for 4xx answers that name the field and the reason."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from psp_common.http import ErrorResponse, FieldError
from psp_matching.domain.errors import CaseClosed, CaseError, NotEligible, NotThisCase, UnknownCase, UnknownSupporter

CSV_TYPES = ("text/csv", "application/csv")
ICAL_TYPES = ("text/calendar",)


def error(status: int, detail: str, field: str, reason: str) -> JSONResponse:
    """A 4xx with one field error."""
    body = ErrorResponse(detail=detail, errors=[FieldError(field=field, reason=reason)])
    return JSONResponse(body.model_dump(), status_code=status)


CASE_STATUS: dict[type[CaseError], int] = {
    UnknownCase: 404,
    CaseClosed: 409,
    NotThisCase: 409,
    UnknownSupporter: 422,
    NotEligible: 409,
}


def case_error(exc: CaseError) -> JSONResponse:
    """The answer to a case's illegal transition: its status code, detail, field and reason."""
    return error(CASE_STATUS.get(type(exc), 409), exc.detail, exc.field, exc.reason)


async def text_body(request: Request, allowed: tuple[str, ...]) -> str | JSONResponse:
    """The body as text when its content type is allowed, else a 415/400 answer."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in allowed:
        return error(415, "unsupported media type", "content-type", f"expected {' or '.join(allowed)}")
    raw = await request.body()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return error(400, "body is not UTF-8", "body", "not valid UTF-8 text")


def raw_body_doc(media: str, description: str) -> dict[str, object]:
    """OpenAPI for an endpoint taking a raw text body."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media: {"schema": {"type": "string"}}},
        }
    }
