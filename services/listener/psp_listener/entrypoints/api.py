"""Listener HTTP intake (thin: parse, hand to the handler, answer)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from psp_common.http import ERROR_RESPONSES
from psp_listener import handlers
from psp_listener.adapters.schemas import OccurrenceReportV1

router = APIRouter()


class IntakeAccepted(BaseModel):
    """What the listener did with a report."""

    status: str = Field(description="accepted, duplicate (same version resent) or superseded (older version).")
    incident_ref: str = Field(description="Opaque reference under which the PSP tracks the report.")
    version: int = Field(description="Version received.")
    event_id: str | None = Field(None, description="Id of the published IncidentObserved, when accepted.")


@router.post(
    "/v1/occurrence-reports",
    status_code=202,
    response_model=IntakeAccepted,
    responses={200: {"model": IntakeAccepted, "description": "Resend or late older version."}, **ERROR_RESPONSES},
    tags=["intake"],
    summary="Submit a native occurrence report (v1).",
)
async def submit_occurrence_report(report: OccurrenceReportV1, request: Request) -> JSONResponse:
    """Validate, strip, pseudonymize and queue the report for the rules service."""
    container = request.app.state.container
    async with container.runtime.uow() as uow:
        outcome = await handlers.accept_native_report(report, uow, container.pseudo)
    body = IntakeAccepted(
        status=outcome.disposition.value, incident_ref=outcome.incident_ref,
        version=outcome.version, event_id=outcome.event_id,
    )
    return JSONResponse(body.model_dump(), status_code=202 if outcome.event_id else 200)
