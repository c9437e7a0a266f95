"""Shifts (coordinators): a week view (supporters x days, in the facility's zone) and the shift feed imports
(iCalendar or JSON) with each bad event's problem. Matching's API holds the shifts.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from psp_console.adapters.sessions import WebSession
from psp_console.domain.roster import RowProblem, SupporterRow, problems_of
from psp_console.domain.week import Shift, Week
from psp_console.entrypoints.uploads import Upload, checked_upload
from psp_console.entrypoints.web import page, render

router = APIRouter()
KINDS = {"ical": ("/v1/shifts:ical", "text/calendar"), "json": ("/v1/shifts", "application/json")}


def _week_of(request: Request, raw: str | None, zone: Any) -> tuple[Week, list[str]]:
    today = request.app.state.console.clock.now().astimezone(zone).date()
    if not raw:
        return Week.containing(today, zone), []
    try:
        return Week.containing(date.fromisoformat(raw), zone), []
    except ValueError:
        return Week.containing(today, zone), [
            "The week's date was not understood (use YYYY-MM-DD); this week is shown."
        ]


async def _week_page(
    request: Request, user: WebSession, site: str | None, week_day: str | None, status: int = 200, **context: Any
) -> HTMLResponse:
    console = request.app.state.console
    views = await console.backends.matching.get_json("/v1/supporters", user.access_token, params={"limit": 10_000})
    rows = [SupporterRow.of(v) for v in views]
    refs = {v["staff_id"]: v["supporter_ref"] for v in views}
    sites = sorted({r.site for r in rows})
    site = site if site in sites else (sites[0] if sites else None)
    zone = console.settings.zone_of(site)
    week, errors = _week_of(request, week_day, zone)
    here = sorted((r for r in rows if r.site == site), key=lambda r: r.name.lower())
    grid: dict[str, list[list[str]]] = {}
    if here:
        lo, hi = week.bounds
        found = await console.backends.matching.get_json(
            "/v1/shifts", user.access_token, params={"start": lo.isoformat(), "end": hi.isoformat()}
        )
        shifts = [
            Shift(s["staff_ref"], datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"])) for s in found
        ]
        grid = week.grid(shifts, [refs[r.staff_id] for r in here])
    links = {
        k: "/shifts?" + urlencode({"site": site or "", "week": (week.monday + timedelta(days=d)).isoformat()})
        for k, d in (("previous", -7), ("next", 7))
    }
    return render(
        request,
        user,
        "shifts.html",
        "Shifts",
        status,
        errors + context.pop("errors", []),
        sites=sites,
        site=site,
        week=week,
        zone_label=str(zone),
        rows=[(r, grid.get(refs[r.staff_id], [[] for _ in range(7)])) for r in here],
        links=links,
        any_shift=any(any(days) for days in grid.values()),
        **context,
    )


@router.get("/shifts", summary="The week's shifts.")
async def shifts(
    request: Request, site: str | None = None, week: str | None = None, user: WebSession = Depends(page("shifts"))
) -> HTMLResponse:
    """Supporters of one facility by day, with the shift feed imports."""
    return await _week_page(request, user, site, week)


def _json_problems(report: Any) -> list[RowProblem]:
    """Field errors of the JSON list ('0.start') as shift number and field."""
    out = []
    for p in problems_of(report):
        first, _, rest = p.field.partition(".")
        number = int(first) + 1 if first.isdigit() else -1
        out.append(RowProblem(number, rest or p.field, p.reason))
    return out


@router.post("/shifts/import/{kind}", summary="Import the shift feed (iCalendar or JSON).")
async def import_shifts(
    kind: str, request: Request, upload: Upload = Depends(checked_upload("shifts"))
) -> HTMLResponse:
    """Send the file to matching; show how many shifts it stored or each bad event's number, field and reason."""
    user = upload.user
    site, week = upload.fields.get("site"), upload.fields.get("week")
    if kind not in KINDS:
        return await _week_page(request, user, site, week, 404, errors=["Choose iCalendar or JSON."])
    if upload.problem:
        return await _week_page(request, user, site, week, 400, errors=[upload.problem])
    path, content_type = KINDS[kind]
    accepted, report = await request.app.state.console.backends.matching.upload(
        path, user.access_token, upload.content, content_type
    )
    result = report if isinstance(report, dict) else {}
    problems = _json_problems(result) if kind == "json" else problems_of(result)
    if not accepted and not problems:
        problems = [RowProblem(-1, "file", str(result.get("detail") or "not readable as " + kind))]
    return await _week_page(
        request, user, site, week, 200 if accepted else 422, report=result, accepted=accepted, problems=problems
    )
