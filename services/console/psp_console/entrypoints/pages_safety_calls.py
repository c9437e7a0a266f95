"""Safety calls (coordinators): the morning and evening lists of one facility and day, on screen and printable."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from psp_console.adapters.services import NotFound
from psp_console.adapters.sessions import WebSession
from psp_console.domain.access import PAGES
from psp_console.domain.safety_calls import CALLS, CallList, ChoiceError, call_list, choose
from psp_console.entrypoints.web import page, render

router = APIRouter()


async def _call(request: Request, token: str, facility: str, day: date, call: str) -> CallList:
    settings = request.app.state.console.settings
    path = f"/v1/safety-calls/{facility}/{day.isoformat()}/{call}"
    try:
        feed: dict[str, Any] = await request.app.state.console.backends.notification.get_json(path, token)
    except NotFound:
        return CallList(call, None, None, [], configured=False)
    return call_list(call, feed, settings.zone_of(facility))


async def _page(request: Request, user: WebSession, template: str) -> HTMLResponse:
    console = request.app.state.console
    q = request.query_params
    facilities = sorted(console.settings.console_facility_timezones)
    try:
        choice = choose(q.get("facility"), q.get("day"), console.clock.now(), console.settings.zone_of)
    except ChoiceError as exc:
        form = {"facility": q.get("facility", ""), "day": q.get("day", "")}
        return render(
            request,
            user,
            "safety_calls.html",
            "Safety calls",
            400,
            errors=[str(exc)],
            form=form,
            bad=exc.field,
            facilities=facilities,
            calls=[],
        )
    form = {"facility": choice.facility or "", "day": choice.day.isoformat()}
    calls: list[CallList] = []
    if choice.facility:
        token = user.access_token
        calls = list(await asyncio.gather(*(_call(request, token, choice.facility, choice.day, c) for c in CALLS)))
    zone = console.settings.zone_of(choice.facility)
    return render(
        request,
        user,
        template,
        "Safety calls",
        form=form,
        facilities=facilities,
        calls=calls,
        choice=choice,
        zone_label=zone.key,
        case_pages="case" in PAGES,
        printing=template.endswith("_print.html"),
    )


@router.get("/safety-calls", summary="Safety calls.")
async def safety_calls(request: Request, user: WebSession = Depends(page("safety_calls"))) -> HTMLResponse:
    """Pick a facility and day; see its morning and evening lists."""
    return await _page(request, user, "safety_calls.html")


@router.get("/safety-calls/print", summary="Safety calls, print view.")
async def safety_calls_print(request: Request, user: WebSession = Depends(page("safety_calls"))) -> HTMLResponse:
    """The same lists without the console's navigation, laid out for paper."""
    return await _page(request, user, "safety_calls_print.html")
