"""SCIM 2.0 ``/scim/v2/Users`` (RFC 7644): how Entra ID and Okta provision people into the staff directory.

Bearer tokens with the ``scim`` scope only. The staff id (``userName`` or ``externalId``, setting
``scim_staff_id_attribute``) is never stored: the person is stored under its pseudonym, and a User read by id
answers ``userName`` as that pseudonym (a filter ``userName eq "..."`` answers the caller's own value).
Errors are SCIM error resources naming the attribute, never a value.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from psp_common.auth import Principal, Scope, bearer, require
from psp_notification import directory
from psp_notification.adapters.directory import DirectoryRepository, StoredEntry
from psp_notification.adapters.scim import LIST, ScimError, apply_patch, entry_of, resource_of, staff_id_of

MEDIA = "application/scim+json"
_require_scim = require(Scope.SCIM)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
_FILTER = re.compile(r'^\s*(?P<attr>userName|externalId)\s+eq\s+"(?P<value>[^"]*)"\s*$', re.IGNORECASE)


async def scim_caller(request: Request, credentials: Credentials) -> Principal:
    """A valid token with the ``scim`` scope; a refusal (401, 403, 503) is a SCIM error."""
    try:
        return await _require_scim(request, credentials)
    except HTTPException as exc:
        raise ScimError(exc.status_code, str(exc.detail), headers=exc.headers) from None


router = APIRouter(prefix="/scim/v2", tags=["scim"], dependencies=[Depends(scim_caller)])
ScimId = Annotated[str, Path(max_length=64, description="The User's id (assigned by this service).")]


def answer(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """A SCIM response."""
    return JSONResponse(body, status_code=status, media_type=MEDIA, headers=headers)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise ScimError(400, "body is not valid JSON", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise ScimError(400, "body must be a JSON object", "invalidSyntax")
    return body


def _ctx(request: Request) -> Any:
    return request.app.state.container


def _resource(request: Request, stored: StoredEntry, user_name: str | None = None) -> dict[str, Any]:
    return resource_of(stored, user_name or stored.staff_ref, _ctx(request).settings.public_base_url)


async def _store(request: Request, staff_id: str, body: dict[str, Any]) -> StoredEntry | None:
    """Store the person ``body`` describes under the staff id's pseudonym (removed when inactive)."""
    c = _ctx(request)
    entry = entry_of(body)
    async with c.runtime.uow() as uow:
        return await directory.provision(uow, c.pseudo.pseudonyms_of(staff_id), c.pseudo.key_id, entry, c.clock.now())


async def _by_id(request: Request, scim_id: str) -> StoredEntry:
    async with _ctx(request).runtime.session() as session:
        found = await DirectoryRepository(session).find_scim(scim_id)
    if found is None:
        raise ScimError(404, "no such User")
    return found


@router.post("/Users", status_code=201, summary="Provision a person (SCIM 2.0).")
async def create_user(request: Request) -> JSONResponse:
    """409 (uniqueness) when the person is already provisioned; an inactive User is not stored."""
    c = _ctx(request)
    body = await _body(request)
    staff_id = staff_id_of(body, c.settings.scim_staff_id_attribute)
    async with c.runtime.session() as session:
        if await DirectoryRepository(session).find(c.pseudo.pseudonyms_of(staff_id)) is not None:
            raise ScimError(409, "a User with this staff id exists", "uniqueness")
    stored = await _store(request, staff_id, body)
    if stored is None:
        raise ScimError(400, "active: an inactive User is not provisioned", "invalidValue")
    return answer(_resource(request, stored, staff_id), 201)


@router.get("/Users", summary='Find Users: filter userName or externalId eq "...", or page through all.')
async def list_users(
    request: Request,
    filter: Annotated[str | None, Query(max_length=300, description='e.g. userName eq "E-10442"')] = None,
    start_index: Annotated[int, Query(alias="startIndex", ge=1, le=2**31)] = 1,
    count: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> JSONResponse:
    """ListResponse of at most ``count`` Users."""
    c = _ctx(request)
    found: list[dict[str, Any]] = []
    if filter is not None:
        m = _FILTER.match(filter)
        if m is None:
            raise ScimError(400, 'filter: only userName eq "..." or externalId eq "..." is supported', "invalidFilter")
        if m["attr"].lower() == c.settings.scim_staff_id_attribute.lower() and m["value"].strip():
            async with c.runtime.session() as session:
                stored = await DirectoryRepository(session).find(c.pseudo.pseudonyms_of(m["value"]))
            found = [_resource(request, stored, m["value"])] if stored else []
        total = len(found)
    else:
        async with c.runtime.session() as session:
            repo = DirectoryRepository(session)
            total = await repo.count()
            found = [_resource(request, s) for s in await repo.page(start_index - 1, count)]
    body = {"schemas": [LIST], "totalResults": total, "startIndex": start_index, "itemsPerPage": len(found)}
    return answer({**body, "Resources": found})


@router.get("/Users/{scim_id}", summary="A provisioned User.")
async def get_user(scim_id: ScimId, request: Request) -> JSONResponse:
    """userName is answered as the pseudonym (the staff id is not stored)."""
    return answer(_resource(request, await _by_id(request, scim_id)))


@router.put("/Users/{scim_id}", summary="Replace a User (active=false removes them).")
async def replace_user(scim_id: ScimId, request: Request) -> Response:
    """The staff id may not change (400 mutability)."""
    c = _ctx(request)
    stored = await _by_id(request, scim_id)
    body = await _body(request)
    staff_id = staff_id_of(body, c.settings.scim_staff_id_attribute)
    if stored.staff_ref not in c.pseudo.pseudonyms_of(staff_id):
        raise ScimError(400, f"{c.settings.scim_staff_id_attribute} is immutable", "mutability")
    updated = await _store(request, staff_id, body)
    if updated is None:
        return Response(status_code=204)
    return answer(_resource(request, updated, staff_id))


@router.patch("/Users/{scim_id}", summary="Change a User (PatchOp; active=false removes them).")
async def patch_user(scim_id: ScimId, request: Request) -> Response:
    """add / replace / remove with or without a path; the staff id attribute may not change."""
    c = _ctx(request)
    stored = await _by_id(request, scim_id)
    attribute = c.settings.scim_staff_id_attribute
    current = _resource(request, stored)
    del current["userName"]  # the staff id is not stored: only a patch that sets it is checked
    patched = apply_patch(current, await _body(request))
    new_id = patched.get(attribute)
    if new_id and stored.staff_ref not in c.pseudo.pseudonyms_of(staff_id_of(patched, attribute)):
        raise ScimError(400, f"{attribute} is immutable", "mutability")
    entry = entry_of(patched)
    async with c.runtime.uow() as uow:
        updated = await directory.provision(uow, [stored.staff_ref], stored.key_id, entry, c.clock.now())
    if updated is None:
        return Response(status_code=204)
    return answer(_resource(request, updated, new_id or None))


@router.delete("/Users/{scim_id}", status_code=204, summary="Deprovision a User (they left): removed.")
async def delete_user(scim_id: ScimId, request: Request) -> Response:
    """204, or 404 when unknown."""
    stored = await _by_id(request, scim_id)
    async with _ctx(request).runtime.uow() as uow:
        await directory.provision(uow, [stored.staff_ref], stored.key_id, None, _ctx(request).clock.now())
    return Response(status_code=204)


def install(app: FastAPI) -> None:
    """Add the SCIM routes, and answer their errors (auth refusals included) as SCIM error resources."""
    app.include_router(router)

    async def on_scim_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ScimError)
        return answer(exc.body(), exc.status, exc.headers)

    app.add_exception_handler(ScimError, on_scim_error)
