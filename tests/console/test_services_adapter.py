"""The services' APIs as the console calls them: the user's token goes along; each refusal or outage becomes the
error a page can explain (which service, what happened, each field's reason, never a value)."""

from __future__ import annotations

import httpx
import pytest

from psp_console.adapters.services import (
    Conflict,
    Invalid,
    NotAllowed,
    NotFound,
    NotSignedIn,
    ServiceApi,
    Unavailable,
)

REFUSAL = {"detail": "supporter not eligible", "errors": [{"field": "supporter_ref", "reason": "fails: stepped away"}]}


def api(status: int, body: object = None, seen: list[httpx.Request] | None = None) -> ServiceApi:
    def answer(request: httpx.Request) -> httpx.Response:
        (seen if seen is not None else []).append(request)
        return httpx.Response(status, json=body if body is not None else {"detail": "x"})

    return ServiceApi("matching", "http://matching.test", httpx.AsyncClient(transport=httpx.MockTransport(answer)))


async def test_the_users_token_is_sent_and_json_comes_back() -> None:
    seen: list[httpx.Request] = []
    assert await api(200, {"ok": 1}, seen).get_json("/v1/cases/x", "user-token") == {"ok": 1}
    assert seen[0].headers["authorization"] == "Bearer user-token" and seen[0].url.path == "/v1/cases/x"


@pytest.mark.parametrize(
    ("status", "kind", "says"),
    [
        (401, NotSignedIn, "The matching service did not accept your sign-in; sign in again."),
        (403, NotAllowed, "The matching service says your role may not do this."),
        (404, NotFound, "The matching service knows no such record"),
        (409, Conflict, "The matching service refused: supporter not eligible (supporter_ref: fails: stepped away)."),
        (422, Invalid, "The matching service refused the input: supporter not eligible (supporter_ref: fails:"),
        (500, Unavailable, "The matching service failed (HTTP 500); try again in a moment."),
    ],
)
async def test_refusals_become_sentences(status: int, kind: type[Exception], says: str) -> None:
    with pytest.raises(kind) as err:
        await api(status, REFUSAL).post_json("/v1/cases/x:assign", "t", {"supporter_ref": "ps_1"})
    assert err.value.message_for_page.startswith(says)  # type: ignore[attr-defined]


async def test_an_unreachable_service_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    down = ServiceApi("rules", "http://rules.test", httpx.AsyncClient(transport=httpx.MockTransport(refuse)))
    with pytest.raises(Unavailable, match="cannot be reached"):
        await down.get_json("/v1/rulesets", "t")
    assert await down.ready() is False
