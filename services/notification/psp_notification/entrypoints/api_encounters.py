"""Encounter log over HTTP: the supporter who acknowledged (supporter scope, their staff_id claim) or a coordinator.

Thin: build the actor and the domain value, call the handler, map domain errors to status codes
(``entrypoints/errors.py``: a case not the caller's is 404 like an unknown one; not acknowledged yet or closed is
409; values that do not fit are 422).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from psp_common.auth import AUTH_RESPONSES, Principal, Scope, own_refs, require
from psp_common.http import ERROR_RESPONSES, ErrorResponse
from psp_notification import encounters
from psp_notification.adapters.encounter_schemas import EncounterIn, EncounterList, EncounterLogged, EncounterOut
from psp_notification.domain.encounters import Actor
from psp_notification.domain.errors import DomainError
from psp_notification.entrypoints.errors import refused

router = APIRouter(responses={**ERROR_RESPONSES, **AUTH_RESPONSES})
Caller = Annotated[Principal, Depends(require(Scope.COORDINATOR, Scope.SUPPORTER))]
Uuid = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$", description="Assignment id (UUID).")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown assignment, or not the caller's."},
    409: {"model": ErrorResponse, "description": "Not acknowledged yet, or closed."},
}
PATH = "/v1/assignments/{assignment_id}/encounters"


def actor_of(request: Request, principal: Principal) -> Actor:
    """The caller as the domain sees them: their pseudonyms under every active key, and coordinator or not."""
    refs = own_refs(principal, request.app.state.container.pseudo)
    return Actor(refs=frozenset(refs), coordinator=principal.has(Scope.COORDINATOR))


@router.post(
    PATH,
    status_code=201,
    response_model=EncounterLogged,
    responses=RESPONSES,
    tags=["encounters"],
    summary="Log an encounter (no free text; tier-3/crisis referral pages the coordinator; follow-up schedules "
    "a check-in; marks the assignment contacted if it was not).",
)
async def log_encounter(assignment_id: Uuid, body: EncounterIn, request: Request, who: Caller) -> Any:
    """The supporter who acknowledged the assignment, or a coordinator."""
    c = request.app.state.container
    try:
        async with c.runtime.uow() as uow:
            number = await encounters.log_encounter(
                uow, assignment_id.lower(), body.to_domain(), actor_of(request, who), c.settings, c.clock.now()
            )
    except DomainError as exc:
        return refused(exc)
    c.dispatcher.wake()
    return JSONResponse(EncounterLogged(number=number).model_dump(), status_code=201)


@router.get(
    PATH,
    response_model=EncounterList,
    responses=RESPONSES,
    tags=["encounters"],
    summary="The encounters of an assignment (the supporter who acknowledged it, or a coordinator).",
)
async def list_encounters(assignment_id: Uuid, request: Request, who: Caller) -> Any:
    """Every encounter logged, oldest first."""
    c = request.app.state.container
    try:
        async with c.runtime.uow() as uow:
            stored = await encounters.list_encounters(uow, assignment_id.lower(), actor_of(request, who))
    except DomainError as exc:
        return refused(exc)
    return EncounterList(items=[EncounterOut.from_stored(s) for s in stored])
