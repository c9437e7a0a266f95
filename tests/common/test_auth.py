"""Bearer tokens: missing, expired, tampered, wrong audience and wrong scope are refused (HS256, fixed clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from psp_common.auth import Principal, Scope, TokenVerifier, mint, require
from psp_common.settings import ServiceSettings

SETTINGS = ServiceSettings()
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())


class _RT:
    settings = SETTINGS
    tokens = TokenVerifier(SETTINGS, clock=lambda: NOW)


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


def token(subject: str, scopes: list[str], ttl_s: int = 3600) -> str:
    return mint(SETTINGS, subject, scopes, ttl_s=ttl_s, now=NOW)


def claims(**over: object) -> dict[str, object]:
    return {
        "sub": "x",
        "scope": "coordinator",
        "iat": T,
        "exp": T + 600,
        "iss": "psp-dev",
        "aud": "psp-outreach",
    } | over


SECRET = SETTINGS.auth_jwt_secret.get_secret_value()


async def test_valid_token_with_scope_passes() -> None:
    r = await call("/cases", token("alice", ["coordinator"]))
    assert r.status_code == 200 and r.json() == {"sub": "alice"}


@pytest.mark.parametrize(
    ("tok", "status", "detail"),
    [
        (None, 401, "missing bearer token"),
        (token("bob", ["intake"]), 403, None),
        (token("bob", ["analyst"]), 403, None),
        (token("eve", ["coordinator"], ttl_s=-60), 401, "token expired"),  # beyond the 30 s leeway
        (token("eve", ["coordinator"]) + "x", 401, "invalid token: InvalidSignatureError"),
        (jwt.encode(claims(aud="other"), SECRET, algorithm="HS256"), 401, "invalid token: InvalidAudienceError"),
        (jwt.encode(claims(iss="other"), SECRET, algorithm="HS256"), 401, "invalid token: InvalidIssuerError"),
        (
            jwt.encode(claims(), "another-secret-another-secret-12345", algorithm="HS256"),
            401,
            "invalid token: InvalidSignatureError",
        ),
        (
            jwt.encode({k: v for k, v in claims().items() if k != "iat"}, SECRET, algorithm="HS256"),
            401,
            "invalid token: MissingRequiredClaimError",
        ),
    ],
)
async def test_refusals(tok: str | None, status: int, detail: str | None) -> None:
    r = await call("/cases", tok)
    assert r.status_code == status
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["detail"] == detail


async def test_any_of_several_scopes() -> None:
    assert (await call("/stats", token("ann", ["analyst"]))).status_code == 200
    assert (await call("/stats", token("sup", ["supporter"]))).status_code == 403
