"""Bearer tokens: missing, expired, tampered, wrong audience and wrong scope are refused."""

from __future__ import annotations

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from psp_common.auth import Principal, Scope, mint, require
from psp_common.settings import ServiceSettings

SETTINGS = ServiceSettings()


class _RT:
    settings = SETTINGS


def app() -> FastAPI:
    a = FastAPI()
    a.state.runtime = _RT()

    @a.get("/cases")
    async def cases(p: Principal = Depends(require(Scope.COORDINATOR))) -> dict[str, str]:
        return {"sub": p.subject}

    @a.get("/stats")
    async def stats(p: Principal = Depends(require(Scope.ANALYST, Scope.COORDINATOR))) -> dict[str, str]:
        return {"sub": p.subject}

    return a


async def call(path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://t") as c:
        return await c.get(path, headers=headers)


async def test_valid_token_with_scope_passes() -> None:
    r = await call("/cases", mint(SETTINGS, "alice", ["coordinator"]))
    assert r.status_code == 200 and r.json() == {"sub": "alice"}


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, 401),
        (mint(SETTINGS, "bob", ["intake"]), 403),
        (mint(SETTINGS, "bob", ["analyst"]), 403),
        (mint(SETTINGS, "eve", ["coordinator"], ttl_s=-10), 401),
        (mint(SETTINGS, "eve", ["coordinator"]) + "x", 401),
        (
            jwt.encode(
                {"sub": "x", "scope": "coordinator", "exp": 9999999999, "iss": "psp-dev", "aud": "other"},
                SETTINGS.auth_jwt_secret.get_secret_value(),
                algorithm="HS256",
            ),
            401,
        ),
        (
            jwt.encode(
                {"sub": "x", "scope": "coordinator", "exp": 9999999999, "iss": "psp-dev", "aud": "psp-outreach"},
                "another-secret-another-secret-12345",
                algorithm="HS256",
            ),
            401,
        ),
    ],
)
async def test_refusals(token: str | None, status: int) -> None:
    r = await call("/cases", token)
    assert r.status_code == status
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"


async def test_any_of_several_scopes() -> None:
    assert (await call("/stats", mint(SETTINGS, "ann", ["analyst"]))).status_code == 200
    assert (await call("/stats", mint(SETTINGS, "sup", ["supporter"]))).status_code == 403
