"""Sign-out over real HTTP with the dev provider: the console session ends, then the provider's (RP-initiated
logout with id_token_hint, client_id and the console's signed-out page), and only a registered URI is returned to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from psp_console.adapters.orm import web_sessions
from psp_console.bootstrap import build as build_console
from psp_console.devidp.app import build as build_idp
from psp_console.devidp.settings import DevIdpSettings
from tests.console.conftest import HIDDEN, Site, console_settings, free_port, served, to_provider


async def _site(sqlite_url: str, **idp: object) -> AsyncIterator[tuple[Site, FastAPI]]:
    port, idp_port = free_port(), free_port()
    signed_out = f"http://127.0.0.1:{port}/auth/signed-out"
    settings = DevIdpSettings(env="dev", http_port=idp_port, devidp_post_logout_redirect_uris=[signed_out], **idp)
    idp_app = build_idp(settings)
    async with served(idp_app, idp_port) as idp_url:
        app = build_console(console_settings(sqlite_url, port, idp_url))
        async with served(app, port) as base:
            yield Site(base, idp_url, app), idp_app


@pytest.fixture
async def rp_logout(sqlite_url: str) -> AsyncIterator[tuple[Site, FastAPI]]:
    """Console and a provider with an end_session_endpoint and the console's signed-out page registered."""
    async for pair in _site(sqlite_url):
        yield pair


@pytest.fixture
async def no_logout(sqlite_url: str) -> AsyncIterator[tuple[Site, FastAPI]]:
    """Console and a provider whose discovery has no end_session_endpoint."""
    async for pair in _site(sqlite_url, devidp_end_session=False):
        yield pair


async def sign_in_keeping_provider(site: Site, console: httpx.AsyncClient, idp: httpx.AsyncClient) -> None:
    """The code flow with a browser that keeps the provider's cookie too."""
    chooser = await idp.get(await to_provider(console))
    form = dict(HIDDEN.findall(chooser.text)) | {"account": "coordinator"}
    back = await idp.post(site.idp + "/authorize", data=form)
    callback = back.headers["location"]
    assert (await console.get(callback[callback.index("/auth/callback") :])).status_code == 303


async def csrf(console: httpx.AsyncClient) -> str:
    home = await console.get("/")
    return home.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


async def sessions(site: Site) -> list[str | None]:
    async with site.app.state.console.engine.connect() as conn:
        return list((await conn.execute(select(web_sessions.c.id_token))).scalars())


async def test_sign_out_ends_the_providers_session_with_the_id_token_hint(rp_logout: tuple[Site, FastAPI]) -> None:
    site, idp_app = rp_logout
    async with site.client() as console, httpx.AsyncClient(follow_redirects=False, timeout=10) as idp:
        await sign_in_keeping_provider(site, console, idp)
        assert idp_app.state.idp.sessions
        (id_token,) = await sessions(site)
        assert id_token and all(id_token not in v for v in [*console.cookies.values(), *idp.cookies.values()])
        home = await console.get("/")
        assert f"form-action 'self' {site.idp};" in home.headers["content-security-policy"]
        out = await console.post("/auth/logout", data={"csrf": await csrf(console)})
        assert out.status_code == 303
        target = urlsplit(out.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == site.idp + "/end_session"
        q = {k: v[0] for k, v in parse_qs(target.query).items()}
        assert q == {
            "client_id": "psp-console",
            "id_token_hint": id_token,
            "post_logout_redirect_uri": site.console + "/auth/signed-out",
        }
        assert jwt.decode(id_token, options={"verify_signature": False})["sub"] == "demo-coordinator"
        assert await sessions(site) == [] and (await console.get("/")).status_code == 303  # console session gone
        assert "Signed in here as" in (await idp.get(await to_provider(console))).text
        back = await idp.get(out.headers["location"])
        assert back.status_code == 303 and back.headers["location"] == site.console + "/auth/signed-out"
        assert not idp_app.state.idp.sessions
        assert "Signed in here as" not in (await idp.get(await to_provider(console))).text  # provider session gone
        assert (await console.get("/auth/signed-out")).status_code == 200


async def test_the_provider_returns_only_to_a_registered_post_logout_uri(rp_logout: tuple[Site, FastAPI]) -> None:
    site, _ = rp_logout
    async with site.client() as console, httpx.AsyncClient(follow_redirects=False, timeout=10) as idp:
        await sign_in_keeping_provider(site, console, idp)
        (id_token,) = await sessions(site)
        end = site.idp + "/end_session"
        registered = site.console + "/auth/signed-out"
        elsewhere = await idp.get(end, params={"id_token_hint": id_token, "post_logout_redirect_uri": registered + "x"})
        assert elsewhere.status_code == 200 and "location" not in elsewhere.headers and "Signed out" in elsewhere.text
        other = await idp.get(end, params={"client_id": "someone-else", "post_logout_redirect_uri": registered})
        assert other.status_code == 200 and "location" not in other.headers
        mismatch = {"client_id": "psp-console-2", "id_token_hint": id_token, "post_logout_redirect_uri": registered}
        assert (await idp.get(end, params=mismatch)).status_code == 400
        forged = jwt.encode(
            {"aud": "psp-console", "iss": site.idp}, "not-the-providers-key-" + "x" * 16, algorithm="HS256"
        )
        bad = await idp.get(end, params={"id_token_hint": forged, "post_logout_redirect_uri": registered})
        assert bad.status_code == 400 and "location" not in bad.headers
        good = await idp.get(end, params={"id_token_hint": id_token, "post_logout_redirect_uri": registered,
                                          "state": "s1"})  # fmt: skip
        assert good.status_code == 303 and good.headers["location"] == registered + "?state=s1"


async def test_without_an_end_session_endpoint_sign_out_stays_at_the_console(no_logout: tuple[Site, FastAPI]) -> None:
    site, idp_app = no_logout
    async with site.client() as console, httpx.AsyncClient(follow_redirects=False, timeout=10) as idp:
        await sign_in_keeping_provider(site, console, idp)
        assert "end_session_endpoint" not in (await idp.get(site.idp + "/.well-known/openid-configuration")).json()
        out = await console.post("/auth/logout", data={"csrf": await csrf(console)})
        assert out.status_code == 303 and out.headers["location"] == "/auth/signed-out"
        assert await sessions(site) == [] and (await console.get("/")).status_code == 303
    assert idp_app.state.idp.sessions  # the provider's own sign-in is untouched
