"""The evaluation figures from the services: rules and notification /v1/stats once per month (each month
suppressed alone), notification /v1/stats for the range.

Counts only (the services suppress small cells); the user's token decides whether they may see them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from psp_console.adapters.services import Backends, ServiceApi
from psp_console.domain.evaluation import MonthRange, month_start, next_month_start


async def _by_month(api: ServiceApi, token: str, chosen: MonthRange) -> dict[str, dict[str, Any]]:
    """A service's /v1/stats for each month of the range (a window per month, so each month is suppressed alone)."""

    async def one(month: str) -> dict[str, Any]:
        params = {"since": month_start(month).isoformat(), "until": next_month_start(month).isoformat()}
        body: dict[str, Any] = await api.get_json("/v1/stats", token, params=params)
        return body

    months = chosen.months
    return dict(zip(months, await asyncio.gather(*(one(m) for m in months)), strict=True))


async def rules_by_month(backends: Backends, token: str, chosen: MonthRange) -> dict[str, dict[str, Any]]:
    """Rules /v1/stats per month: reports decided, by rule fired, not paged."""
    return await _by_month(backends.rules, token, chosen)


async def cases_by_month(backends: Backends, token: str, chosen: MonthRange) -> dict[str, dict[str, Any]]:
    """Notification /v1/stats per month: cases created that month, ``by_trigger`` counting each case once per rule."""
    return await _by_month(backends.notification, token, chosen)


def window(chosen: MonthRange) -> dict[str, str]:
    """since/until of the whole range."""
    return {"since": chosen.since.isoformat(), "until": chosen.until.isoformat()}


async def notification_stats(backends: Backends, token: str, chosen: MonthRange) -> dict[str, Any]:
    """Notification /v1/stats for the range (its ``monthly`` part is per UTC month)."""
    body: dict[str, Any] = await backends.notification.get_json("/v1/stats", token, params=window(chosen))
    return body


async def notification_csv(backends: Backends, token: str, chosen: MonthRange) -> str:
    """Notification /v1/stats.csv for the range, as the service wrote it."""
    response = await backends.notification.request("GET", "/v1/stats.csv", token, params=window(chosen))
    return response.text
