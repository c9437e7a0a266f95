"""Audit log viewer (coordinators): every service's log and the console's own, merged newest first, filtered."""

from __future__ import annotations

import asyncio
from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from psp_common.audit import AuditFilter
from psp_console.adapters.services import BackendError
from psp_console.adapters.sessions import WebSession
from psp_console.domain.audit_view import (
    ACTIONS,
    PAGE_SIZE,
    SOURCES,
    STATUS_CLASSES,
    AuditQuery,
    Entry,
    FilterError,
    format_cursor,
    merge,
    parse_cursor,
    parse_query,
)
from psp_console.entrypoints.web import page, render

router = APIRouter()
FORM_FIELDS = ("service", "actor", "action", "status", "from", "to", "contains")


def _entries(source: str, items: list[dict[str, object]]) -> list[Entry]:
    return [
        Entry(
            source,
            int(str(i["id"])),
            datetime.fromisoformat(str(i["at"])),
            str(i["actor"]),
            str(i["action"]),
            str(i["resource"]),
            int(str(i["status"])),
        )
        for i in items
    ]


async def _read(request: Request, user: WebSession, source: str, query: AuditQuery, before: int) -> list[Entry]:
    console = request.app.state.console
    if source == "console":
        low, high = STATUS_CLASSES.get(query.status_class or "", (None, None))
        f = AuditFilter(
            before=before or None,
            actor=query.actor,
            action=query.action,
            status_min=low,
            status_max=high,
            since=query.since,
            until=query.until,
            resource_contains=query.contains,
        )
        page_ = await console.audit.read(f, PAGE_SIZE)
        return _entries(source, [i.model_dump() | {"at": i.at.isoformat()} for i in page_.items])
    params = query.params() | {"limit": PAGE_SIZE} | ({"before": before} if before else {})
    api = getattr(console.backends, source)
    body = await api.get_json("/v1/audit", user.access_token, params=params)
    return _entries(source, body.get("items", []))


@router.get("/audit", summary="Audit log.")
async def audit(request: Request, user: WebSession = Depends(page("audit"))) -> HTMLResponse:
    """Entries of the chosen sources, newest first, ``PAGE_SIZE`` a page."""
    console = request.app.state.console
    zone = console.settings.zone_of(None)
    form = {k: request.query_params.get(k, "") for k in FORM_FIELDS}
    context = {"form": form, "sources": SOURCES, "actions": ACTIONS, "classes": list(STATUS_CLASSES), "zone": zone}
    try:
        query = parse_query(form, zone)
    except FilterError as exc:
        return render(
            request, user, "audit.html", "Audit log", 400, errors=[str(exc)], bad=exc.field, entries=[], **context
        )
    cursor = parse_cursor(request.query_params.get("cursor"), query.sources)
    live = [s for s in query.sources if cursor[s] != 0]
    results = await asyncio.gather(
        *(_read(request, user, s, query, cursor[s] or 0) for s in live), return_exceptions=True
    )
    pages: dict[str, list[Entry]] = {}
    problems: list[str] = []
    for source, result in zip(live, results, strict=True):
        if isinstance(result, BackendError):
            problems.append(f"{result.message_for_page} Its entries are missing from this page; try again later.")
        elif isinstance(result, BaseException):
            raise result
        else:
            pages[source] = result
    entries, after = merge(pages, {s: cursor[s] for s in pages}, PAGE_SIZE)
    next_cursor = format_cursor({**cursor, **after})
    kept = urlencode({k: v for k, v in form.items() if v})
    return render(
        request,
        user,
        "audit.html",
        "Audit log",
        errors=problems,
        entries=entries,
        next_cursor=next_cursor,
        kept=kept,
        first_page=not request.query_params.get("cursor"),
        **context,
    )
