"""Evaluation (analysts and coordinators): charts of the programme's figures by month, CSV exports."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from psp_console.adapters import evaluation as stats
from psp_console.adapters.sessions import WebSession
from psp_console.domain.charts import layout
from psp_console.domain.evaluation import MAX_MONTHS, MonthRange, RangeError, charts, month_range, to_csv
from psp_console.entrypoints.web import page, render

router = APIRouter()


def _range(request: Request) -> MonthRange:
    console = request.app.state.console
    today = console.clock.now().astimezone(console.settings.zone_of(None)).date()
    q = request.query_params
    return month_range(q.get("from") or None, q.get("to") or None, today)


def _bad_range(request: Request, user: WebSession, exc: RangeError) -> HTMLResponse:
    errors = [f"{exc} Go back to the evaluation page and choose the months again."]
    return render(request, user, "error.html", "Months not understood", 400, errors=errors)


def _csv(body: str, name: str) -> Response:
    return Response(
        body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/evaluation", summary="Evaluation charts.")
async def evaluation(request: Request, user: WebSession = Depends(page("evaluation"))) -> HTMLResponse:
    """Cases by trigger, time to first contact, encounters, referrals and declined support, per month."""
    q = request.query_params
    try:
        chosen = _range(request)
    except RangeError as exc:
        form = {"from": q.get("from", ""), "to": q.get("to", "")}
        return render(
            request,
            user,
            "evaluation.html",
            "Evaluation",
            400,
            errors=[str(exc)],
            form=form,
            bad=exc.field,
            max_months=MAX_MONTHS,
            charts=[],
        )
    backends = request.app.state.console.backends
    rules, notification, cases = await asyncio.gather(
        stats.rules_by_month(backends, user.access_token, chosen),
        stats.notification_stats(backends, user.access_token, chosen),
        stats.cases_by_month(backends, user.access_token, chosen),
    )
    drawn = [(c, layout(c)) for c in charts(chosen, rules, notification, cases)]
    query = f"from={chosen.first}&to={chosen.last}"
    return render(
        request,
        user,
        "evaluation.html",
        "Evaluation",
        form={"from": chosen.first, "to": chosen.last},
        chosen=chosen,
        charts=drawn,
        query=query,
        max_months=MAX_MONTHS,
        min_cell=notification.get("min_cell"),
    )


@router.get("/evaluation/charts.csv", summary="The charts' data as CSV.")
async def charts_csv(request: Request, user: WebSession = Depends(page("evaluation"))) -> Response:
    """One row per chart cell; suppressed cells empty and marked."""
    try:
        chosen = _range(request)
    except RangeError as exc:
        return _bad_range(request, user, exc)
    backends = request.app.state.console.backends
    rules, notification, cases = await asyncio.gather(
        stats.rules_by_month(backends, user.access_token, chosen),
        stats.notification_stats(backends, user.access_token, chosen),
        stats.cases_by_month(backends, user.access_token, chosen),
    )
    return _csv(to_csv(charts(chosen, rules, notification, cases)), f"psp-evaluation-{chosen.first}-{chosen.last}.csv")


@router.get("/evaluation/monthly.csv", summary="The notification service's monthly figures as CSV.")
async def monthly_csv(request: Request, user: WebSession = Depends(page("evaluation"))) -> Response:
    """Notification /v1/stats.csv for the chosen months (the same suppressed cells, left empty)."""
    try:
        chosen = _range(request)
    except RangeError as exc:
        return _bad_range(request, user, exc)
    body = await stats.notification_csv(request.app.state.console.backends, user.access_token, chosen)
    return _csv(body, f"psp-encounters-{chosen.first}-{chosen.last}.csv")
