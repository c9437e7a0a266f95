"""The services verify the dev identity provider's tokens like any provider's (OIDC discovery + JWKS): the
access token of a console sign-in and a dev-tools token (client credentials) carry the right scopes."""

from __future__ import annotations

import asyncio

import httpx
import jwt
import pytest
from sqlalchemy import select

from psp_common.auth import TokenVerifier
from psp_common.devrun import fetch_dev_token
from psp_common.settings import ServiceSettings
from psp_console.adapters.orm import web_sessions
from tests.clock import PinnedClock
from tests.console.conftest import Site, sign_in


def verifier(issuer: str) -> TokenVerifier:
    return TokenVerifier(ServiceSettings(env="dev", auth_oidc_issuer=issuer))


async def test_a_console_sign_ins_access_token_is_accepted_by_the_services(
    site: Site, pinned_clock: PinnedClock
) -> None:
    async with site.client() as c:
        await sign_in(c, "supporter")
    async with site.app.state.console.engine.connect() as conn:
        token = (await conn.execute(select(web_sessions.c.access_token))).scalar_one()
    principal = await asyncio.to_thread(verifier(site.idp).verify, token, pinned_clock.now())
    assert principal.subject == "demo-supporter" and principal.scopes == {"supporter"}
    assert principal.staff_id == "S-100"  # a demo roster member: their own assignments
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == ["supporter"]


async def test_dev_tools_get_tokens_by_client_credentials_only(idp_url: str, pinned_clock: PinnedClock) -> None:
    token = await asyncio.to_thread(fetch_dev_token, idp_url, ["analyst", "intake"], "tool")
    principal = await asyncio.to_thread(verifier(idp_url).verify, token, pinned_clock.now())
    assert principal.subject == "tool" and principal.scopes == {"analyst", "intake"}
    with pytest.raises(RuntimeError, match="invalid_scope"):
        await asyncio.to_thread(fetch_dev_token, idp_url, ["root"])
    async with httpx.AsyncClient() as c:
        r = await c.post(
            idp_url + "/token", data={"grant_type": "client_credentials", "client_id": "psp-console", "scope": "x"}
        )
    assert r.status_code == 401 and r.json()["error"] == "unauthorized_client"
