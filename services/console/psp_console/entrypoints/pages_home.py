"""Home: who you are, your roles, and the pages your roles open."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from psp_console.adapters.sessions import WebSession
from psp_console.entrypoints.web import page, render

router = APIRouter()


@router.get("/", summary="Home.")
async def home(request: Request, user: WebSession = Depends(page("home"))) -> HTMLResponse:
    """Greets the user and lists what their role may use."""
    zone = request.app.state.console.settings.zone_of(None)
    return render(request, user, "home.html", "Home", expires=user.expires_at, zone_info=zone)
