"""Staff directory API (coordinators): CSV and FHIR Bundle imports, look up a colleague (audited), remove a leaver."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_common.http import ERROR_RESPONSES, ErrorResponse
from psp_notification import directory
from psp_notification.adapters.directory import DirectoryRepository
from psp_notification.adapters.directory_fhir import parse_bundle
from psp_notification.adapters.directory_import import Parsed, parse_csv
from psp_notification.adapters.directory_schemas import (
    BundleImportReport,
    CsvImportReport,
    DirectoryEntryOut,
    bundle_report,
    csv_report,
)
from psp_notification.directory import ImportMode
from psp_notification.entrypoints.api import error

router = APIRouter(tags=["directory"], dependencies=[Depends(require(Scope.COORDINATOR))])
CSV_TYPES = ("text/csv", "application/csv")
FHIR_TYPES = ("application/fhir+json", "application/json")
StaffId = Annotated[str, Path(min_length=1, max_length=128, description="Staff id (stored as its pseudonym).")]
Mode = Annotated[
    ImportMode, Query(description="upsert: add/update the people given; replace: full sync, absent people removed.")
]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    **AUTH_RESPONSES,
    404: {"model": ErrorResponse, "description": "No such person in the directory."},
    415: {"model": ErrorResponse, "description": "Unsupported content type."},
}


def _raw_body_doc(media: str, description: str) -> dict[str, object]:
    return {"requestBody": {"required": True, "description": description, "content": {media: {"schema": {}}}}}


async def _text(request: Request, allowed: tuple[str, ...]) -> str | JSONResponse:
    """The body as UTF-8 text when its content type is allowed (else 415 / 400 naming the field)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in allowed:
        return error(415, "content-type", f"expected {' or '.join(allowed)}")
    try:
        return (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        return error(400, "body", "not valid UTF-8 text")


async def _import(request: Request, parsed: Parsed, mode: ImportMode, source: str) -> directory.ImportCounts | None:
    """Store what was parsed (None when there is nothing good to store: the caller answers 422)."""
    if not parsed.people:
        return None
    c = request.app.state.container
    async with c.runtime.uow() as uow:
        return await directory.apply_import(uow, parsed, mode, c.pseudo, source, c.clock.now())


@router.post(
    "/v1/directory/import.csv",
    response_model=CsvImportReport,
    responses={**RESPONSES, 422: {"model": CsvImportReport, "description": "Nothing importable."}},
    openapi_extra=_raw_body_doc("text/csv", "Header row then one person a line (columns: see the README)."),
    summary="Load the staff directory from CSV (good rows stored, bad rows reported by line and column).",
)
async def import_csv(request: Request, mode: Mode = ImportMode.UPSERT) -> Any:
    """Columns staff_id, display_name (required), role, unit, phone, pager, email, active (false = leaver)."""
    text = await _text(request, CSV_TYPES)
    if isinstance(text, JSONResponse):
        return text
    parsed = parse_csv(text)
    counts = await _import(request, parsed, mode, "csv")
    report = csv_report(mode.value, _received(parsed), counts or directory.ImportCounts(), parsed.problems)
    return JSONResponse(report.model_dump(), status_code=200 if counts else 422)


@router.post(
    "/v1/directory/import.fhir",
    response_model=BundleImportReport,
    responses={**RESPONSES, 422: {"model": BundleImportReport, "description": "Nothing importable."}},
    openapi_extra=_raw_body_doc("application/fhir+json", "A FHIR R4 Bundle of Practitioner and PractitionerRole."),
    summary="Load the staff directory from a FHIR R4 Bundle of Practitioner + PractitionerRole.",
)
async def import_fhir(request: Request, mode: Mode = ImportMode.UPSERT) -> Any:
    """Practitioner.active=false removes the person; bad entries are reported by index and element."""
    text = await _text(request, FHIR_TYPES)
    if isinstance(text, JSONResponse):
        return text
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return error(400, "body", "not valid JSON")
    c = request.app.state.container
    parsed = parse_bundle(body, c.settings.directory_staff_id_system)
    counts = await _import(request, parsed, mode, "fhir")
    report = bundle_report(mode.value, _received(parsed), counts or directory.ImportCounts(), parsed.problems)
    return JSONResponse(report.model_dump(), status_code=200 if counts else 422)


def _received(parsed: Parsed) -> int:
    return len(parsed.people) + len({p.position for p in parsed.problems if p.field != "mode"})


@router.get(
    "/v1/directory/{staff_id:path}",
    response_model=DirectoryEntryOut,
    responses=RESPONSES,
    summary="Who a colleague is and how to reach them (a reveal: the audit log records the pseudonym).",
)
async def get_entry(staff_id: StaffId, request: Request) -> Any:
    """The entry stored under the staff id's pseudonym under any active key."""
    c = request.app.state.container
    async with c.runtime.session() as session:
        found = await DirectoryRepository(session).find(c.pseudo.pseudonyms_of(staff_id))
    if found is None:
        return error(404, "staff_id", "not in the directory")
    return DirectoryEntryOut.of(found)


@router.delete(
    "/v1/directory/{staff_id:path}",
    status_code=204,
    responses=RESPONSES,
    summary="Remove someone who left the hospital.",
)
async def delete_entry(staff_id: StaffId, request: Request) -> Response:
    """Deletes the entry under every active key's pseudonym."""
    c = request.app.state.container
    async with c.runtime.uow() as uow:
        removed = await directory.remove(uow, staff_id, c.pseudo)
    if not removed:
        return error(404, "staff_id", "not in the directory")
    return Response(status_code=204)
