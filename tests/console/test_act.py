"""web.act, the form actions' shared step: a service call, then a redirect, or the page again on a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.responses import HTMLResponse, Response

from psp_console.adapters.services import BackendError, Conflict, Invalid, NotAllowed, NotFound, Unavailable
from psp_console.entrypoints.web import act


async def answer(value: Any) -> Any:
    return value


async def fail(exc: BackendError) -> Any:
    raise exc


async def again(exc: BackendError) -> Response:
    return HTMLResponse(f"again: {exc.message_for_page}", status_code=exc.status)


async def test_a_done_call_redirects_to_the_path_or_one_made_of_its_answer() -> None:
    r = await act(answer(None), "/cases/1?notice=closed", again)
    assert r.status_code == 303 and r.headers["location"] == "/cases/1?notice=closed"
    r = await act(answer(202), lambda code: f"/triage/1?notice={code}", again)
    assert r.headers["location"] == "/triage/1?notice=202"


@pytest.mark.parametrize("exc", [Conflict("matching", "closed", []), Invalid("rules", "bad", []),
                                 NotFound("listener", "no such item")])  # fmt: skip
async def test_a_refusal_shows_the_page_again_with_its_status(exc: BackendError) -> None:
    r = await act(fail(exc), "/never", again)
    assert r.status_code == exc.status and r.body.decode().startswith("again: ")


@pytest.mark.parametrize("exc", [Unavailable("notification", "down"), NotAllowed("matching", "not your role")])
async def test_other_failures_go_to_the_error_pages(exc: BackendError) -> None:
    with pytest.raises(type(exc)):
        await act(fail(exc), "/never", again)
