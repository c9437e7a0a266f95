"""FHIR AdverseEvent intake over HTTP: errors are answered with an OperationOutcome."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from psp_common.auth import AUTH_RESPONSES
from psp_listener.adapters.fhir import FHIR_JSON, operation_outcome, outcome_message, version_from_content_type
from psp_listener.entrypoints.api import INTAKE_AUTH, IntakeAccepted, accept

router = APIRouter(dependencies=INTAKE_AUTH, responses=AUTH_RESPONSES)
log = logging.getLogger("psp.listener.fhir")
ACCEPTED_TYPES = (FHIR_JSON, "application/json")

OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "FHIR OperationOutcome: issue[].expression names the element, diagnostics the reason.",
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}
OUTCOME_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA}}}
    for code, text in (
        (400, "Malformed JSON."),
        (413, "Body too large."),
        (415, "Not FHIR JSON."),
        (422, "Invalid AdverseEvent (each wrong element named), or no usable time or id."),
    )
}


def _fhir_response(body: dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


@router.post(
    "/fhir/AdverseEvent",
    status_code=202,
    response_model=IntakeAccepted,
    responses={200: {"model": IntakeAccepted, "description": "Resend or older version."}, **OUTCOME_RESPONSES},
    tags=["intake"],
    summary="Submit a FHIR AdverseEvent (R4 or R5; fhirVersion=4.0|5.0 in the content type, else detected).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FHIR_JSON: {"schema": {"type": "object", "description": "A FHIR R4 or R5 AdverseEvent resource."}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def submit_adverse_event(request: Request) -> JSONResponse:
    """Validate with fhir.resources, map (patient data and narrative dropped) and queue it.

    A valid resource whose staff cannot be identified, or that names no facility when no default is set, is
    accepted (202) and queued for triage; only an invalid one is answered with an OperationOutcome (4xx).
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().casefold() not in ACCEPTED_TYPES:
        return _fhir_response(outcome_message("not-supported", f"content type must be {FHIR_JSON}"), 415)
    try:
        hint = version_from_content_type(content_type)
        event = request.app.state.container.normalizer.fhir(await request.body(), hint)
    except ValidationError as exc:
        status, body = operation_outcome(exc)
        return _fhir_response(body, status)
    return await accept(request, event)
