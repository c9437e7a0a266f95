"""Service status (coordinators): does each service answer, and does it accept your sign-in?"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from psp_console.adapters.services import BackendError, ServiceApi
from psp_console.adapters.sessions import WebSession
from psp_console.entrypoints.web import page, render

router = APIRouter()


@dataclass(frozen=True)
class ServiceStatus:
    """One service as the status page shows it."""

    name: str
    ready: bool
    accepts: bool
    problem: str


async def _status(api: ServiceApi, token: str) -> ServiceStatus:
    ready = await api.ready()
    try:
        await api.get_json("/v1/audit", token, params={"limit": 1})
    except BackendError as exc:
        return ServiceStatus(api.name, ready, False, exc.message_for_page)
    return ServiceStatus(api.name, ready, True, "")


@router.get("/status", summary="Service status.")
async def status(request: Request, user: WebSession = Depends(page("status"))) -> HTMLResponse:
    """Each service's readiness and whether it accepts the signed-in user's access token."""
    backends = request.app.state.console.backends
    rows = await asyncio.gather(*(_status(api, user.access_token) for api in backends.all()))
    return render(request, user, "status.html", "Service status", services=rows)
