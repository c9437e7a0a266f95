"""Referral intake over HTTP: systems, coordinators and any signed-in staff member (thin: who calls, map, answer)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from psp_common.auth import AUTH_RESPONSES, Principal, Scope, require
from psp_common.http import ERROR_RESPONSES
from psp_listener import handlers
from psp_listener.adapters.referrals import ReferralV1
from psp_listener.entrypoints.api import IntakeAccepted
from psp_listener.referral_intake import Caller

# Systems and coordinators name everyone; any other staff member refers as themself (their token's staff_id).
NAMES_OTHERS = (Scope.INTAKE, Scope.COORDINATOR)
REFERRERS = require(*NAMES_OTHERS, Scope.STAFF, Scope.SUPPORTER, Scope.ANALYST)
router = APIRouter(responses=AUTH_RESPONSES)


def caller_of(principal: Principal) -> Caller:
    """A system (intake) names everyone; a coordinator may too; anyone else acts as themself and needs staff_id."""
    if principal.has(Scope.INTAKE) and not principal.has(Scope.COORDINATOR):
        return Caller()
    if any(principal.has(s) for s in NAMES_OTHERS):
        return Caller(principal.staff_id)
    if not principal.staff_id:
        raise HTTPException(403, "a staff member's token must carry staff_id to refer")
    return Caller(principal.staff_id, as_themself_only=True)


@router.post(
    "/v1/referrals",
    status_code=202,
    response_model=IntakeAccepted,
    responses={200: {"model": IntakeAccepted, "description": "Resend (same referral id)."}, **ERROR_RESPONSES},
    tags=["intake"],
    summary="Refer yourself or a colleague (self, colleague, manager, EAP); no free text is accepted.",
)
async def submit_referral(
    referral: ReferralV1, request: Request, principal: Principal = Depends(REFERRERS)
) -> JSONResponse:
    """Check who is who (a staff member's token is the person or the referrer), pseudonymize, queue for rules."""
    container = request.app.state.container
    event = container.normalizer.referral(referral, caller_of(principal))
    async with container.runtime.uow() as uow:
        outcome = await handlers.accept_referral(event, uow)
    body = IntakeAccepted(
        status=outcome.disposition.value,
        incident_ref=outcome.incident_ref,
        version=outcome.version,
        event_id=outcome.event_id,
    )
    return JSONResponse(body.model_dump(), status_code=202 if outcome.event_id else 200)
