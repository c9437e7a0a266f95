"""The evaluation figures from the services: rules /v1/stats once per month, notification /v1/stats for the range.

Counts only (the services suppress small cells); the user's token decides whether they may see them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from psp_console.adapters.services import Backends
from psp_console.domain.evaluation import MonthRange, month_start, next_month_start


async def rules_by_month(backends: Backends, token: str, chosen: MonthRange) -> dict[str, dict[str, Any]]:
    """Rules /v1/stats for each month of the range (a window per month, so each month is suppressed alone)."""

    async def one(month: str) -> dict[str, Any]:
        params = {"since": month_start(month).isoformat(), "until": next_month_start(month).isoformat()}
        body: dict[str, Any] = await backends.rules.get_json("/v1/stats", token, params=params)
        return body

    months = chosen.months
    return dict(zip(months, await asyncio.gather(*(one(m) for m in months)), strict=True))


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
