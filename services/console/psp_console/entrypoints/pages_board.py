"""Live board (coordinators): open cases, what needs a human first, their clocks; the rows refresh every 5 s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from psp_console.adapters.services import BackendError
from psp_console.adapters.sessions import WebSession
from psp_console.domain.board import BoardCase, BoardLine, Need, order
from psp_console.entrypoints.web import page, render

router = APIRouter()
REFRESH_S = 5


async def _lines(request: Request, user: WebSession) -> tuple[list[BoardLine], str | None]:
    """The board at the console's now, or the sentence saying why it cannot be read."""
    console = request.app.state.console
    try:
        body: Any = await console.backends.notification.get_json("/v1/board", user.access_token)
        cases = [BoardCase.from_api(i) for i in body.get("items", [])]
    except BackendError as exc:
        return [], exc.message_for_page + " The board tries again every few seconds."
    except (ValueError, KeyError, TypeError, AttributeError):
        return [], "The notification service sent a board the console cannot read; tell IT (console log)."
    return order(cases, console.clock.now()), None


def _context(lines: list[BoardLine], problem: str | None, request: Request) -> dict[str, Any]:
    pressing = sum(1 for b in lines if b.need is not Need.IN_HAND)
    console = request.app.state.console
    updated = console.clock.now().astimezone(console.settings.zone_of(None)).strftime("%H:%M:%S %Z")
    return {"lines": lines, "problem": problem, "pressing": pressing, "refresh_s": REFRESH_S, "updated": updated}


@router.get("/board", summary="Live board.")
async def board(request: Request, user: WebSession = Depends(page("board"))) -> HTMLResponse:
    """The whole page; its rows section polls ``/board/rows``."""
    lines, problem = await _lines(request, user)
    return render(request, user, "board.html", "Live board", **_context(lines, problem, request))


@router.get("/board/rows", summary="Live board rows (htmx fragment).")
async def rows(request: Request, user: WebSession = Depends(page("board", audit=False))) -> HTMLResponse:
    """The rows section alone, re-rendered with the clocks at now (swapped in by htmx)."""
    lines, problem = await _lines(request, user)
    return render(request, user, "board_rows.html", "Live board", **_context(lines, problem, request))
