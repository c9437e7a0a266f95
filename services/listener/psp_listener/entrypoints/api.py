"""Listener HTTP intake of native reports and huddle entries (thin: parse, hand to the handler, answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_common.http import ERROR_RESPONSES
from psp_listener import handlers
from psp_listener.adapters.drafts import Intake
from psp_listener.adapters.huddles import HuddleEntryV1
from psp_listener.adapters.schemas import OccurrenceReportV1
from psp_listener.domain.triage import TriageReason

# Integration systems submit; a coordinator may also submit by hand.
INTAKE_AUTH = [Depends(require(Scope.INTAKE, Scope.COORDINATOR))]
router = APIRouter(dependencies=INTAKE_AUTH, responses=AUTH_RESPONSES)


class IntakeAccepted(BaseModel):
    """What the listener did with a report."""

    status: str = Field(
        description="accepted, triaged (accepted and queued for triage: staff or facility could not be determined), "
        "duplicate (same version resent) or superseded (older version)."
    )
    incident_ref: str = Field(description="Opaque reference under which the PSP tracks the report.")
    version: int = Field(description="Version received.")
    event_id: str | None = Field(None, description="Id of the published IncidentObserved, when accepted.")
    triage_id: str | None = Field(None, description="Id of the triage item, when queued for triage.")
    triage_reasons: list[TriageReason] = Field(default_factory=list, description="Why it was queued for triage.")


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": IntakeAccepted, "description": "Resend or late older version."},
    **ERROR_RESPONSES,
}


async def accept(request: Request, intake: Intake) -> JSONResponse:
    """Store and queue a normalized event, or hold it for triage: 202; 200 for a resend or an older version."""
    container = request.app.state.container
    async with container.runtime.uow() as uow:
        outcome = await handlers.accept_incident(intake, uow)
    body = IntakeAccepted(
        status=outcome.disposition.value,
        incident_ref=outcome.incident_ref,
        version=outcome.version,
        event_id=outcome.event_id,
        triage_id=outcome.triage_id,
        triage_reasons=list(outcome.reasons),
    )
    status = 202 if outcome.event_id or outcome.triage_id else 200
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


@router.post(
    "/v1/occurrence-reports",
    status_code=202,
    response_model=IntakeAccepted,
    responses=RESPONSES,
    tags=["intake"],
    summary="Submit a native occurrence report (v1).",
)
async def submit_occurrence_report(report: OccurrenceReportV1, request: Request) -> JSONResponse:
    """Validate, strip, pseudonymize and queue the report for the rules service."""
    return await accept(request, request.app.state.container.normalizer.native(report))


@router.post(
    "/v1/safety-huddles",
    status_code=202,
    response_model=IntakeAccepted,
    responses=RESPONSES,
    tags=["intake"],
    summary="Submit a safety-huddle entry (morning, evening or ad hoc call).",
)
async def submit_huddle_entry(entry: HuddleEntryV1, request: Request) -> JSONResponse:
    """Validate, derive flags from the note, drop it, pseudonymize and queue the entry."""
    return await accept(request, request.app.state.container.normalizer.huddle(entry))
