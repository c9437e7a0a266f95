"""Sessions end at min(token expiry, idle timeout); production cookies are Secure and __Host- prefixed; the ID
token's nonce, audience and times are checked; sign-in returns only to local paths."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import jwt
import pytest

from psp_console.adapters.oidc import OidcClient
from psp_console.bootstrap import build as build_console
from psp_console.devidp.accounts import ACCOUNTS
from psp_console.devidp.app import build as build_idp
from psp_console.devidp.settings import DevIdpSettings
from psp_console.domain.session import PendingSignIn, SessionTimes, SignInRefused, digest, safe_return_path
from tests.clock import TEST_NOW, PinnedClock
from tests.console.conftest import choose, console_settings, free_port, served, sign_in, to_provider


@dataclass
class ShiftedClock:
    """The session's pinned clock, moved on by hand (the provider keeps the pinned clock)."""

    base: PinnedClock
    shift: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return self.base.now() + self.shift


def test_a_session_ends_at_idle_timeout_or_token_expiry_whichever_is_first() -> None:
    times = SessionTimes(token_expires_at=TEST_NOW + timedelta(hours=1), idle=timedelta(minutes=30))
    assert times.expiry(TEST_NOW) == TEST_NOW + timedelta(minutes=30)
    assert times.expiry(TEST_NOW + timedelta(minutes=45)) == TEST_NOW + timedelta(hours=1)


def test_sign_in_returns_only_to_local_paths() -> None:
    assert safe_return_path("/status?x=1") == "/status?x=1"
    for bad in ("https://evil.example/", "//evil.example/", "/\\evil.example", "status", "", None, "/a\r\nSet-Cookie:"):
        assert safe_return_path(bad) == "/"


def test_a_pending_sign_in_needs_its_browser_and_time() -> None:
    pending = PendingSignIn(digest("browser-1"), "v" * 64, "n", "/", TEST_NOW)
    pending.check("browser-1", TEST_NOW + timedelta(minutes=9), timedelta(minutes=10))
    with pytest.raises(SignInRefused, match="another browser"):
        pending.check("browser-2", TEST_NOW, timedelta(minutes=10))
    with pytest.raises(SignInRefused, match="another browser"):
        pending.check(None, TEST_NOW, timedelta(minutes=10))
    with pytest.raises(SignInRefused, match="too long"):
        pending.check("browser-1", TEST_NOW + timedelta(minutes=11), timedelta(minutes=10))


@pytest.fixture
async def idp_app() -> AsyncIterator[tuple[str, object]]:
    port = free_port()
    app = build_idp(DevIdpSettings(env="dev", http_port=port, devidp_token_ttl_s=600))
    async with served(app, port) as url:
        yield url, app


async def test_an_idle_session_ends_and_the_token_expiry_caps_it(
    sqlite_url: str, idp_app: tuple[str, object], pinned_clock: PinnedClock
) -> None:
    idp, _ = idp_app
    clock = ShiftedClock(pinned_clock)
    port = free_port()
    app = build_console(console_settings(sqlite_url, port, idp, console_session_idle_minutes=5), clock=clock)
    async with served(app, port) as base, httpx.AsyncClient(base_url=base, follow_redirects=False) as c:
        await sign_in(c, "coordinator")
        clock.shift = timedelta(minutes=4)
        assert (await c.get("/")).status_code == 200  # used: idle expiry moves on
        clock.shift = timedelta(minutes=8)
        assert (await c.get("/")).status_code == 200
        clock.shift = timedelta(minutes=10, seconds=1)  # idle would allow 13 min; the token (10 min) does not
        assert (await c.get("/")).status_code == 303
        await sign_in(c, "coordinator")
        clock.shift += timedelta(minutes=5, seconds=1)  # unused for longer than the idle timeout
        assert (await c.get("/")).status_code == 303


async def test_production_cookies_are_secure_and_host_prefixed(sqlite_url: str, idp_url: str) -> None:
    port = free_port()
    settings = console_settings(sqlite_url, port, idp_url, env="production")
    async with served(build_console(settings), port) as base, httpx.AsyncClient(base_url=base) as c:
        started = await c.get("/auth/login")
        sign_in_cookie = started.headers["set-cookie"]
        assert sign_in_cookie.startswith("__Host-psp_signin=") and "; secure" in sign_in_cookie.lower()
        callback = await choose(started.headers["location"], "coordinator")
        value = sign_in_cookie.split(";")[0]
        done = await c.get(callback, headers={"cookie": value})  # http test client: send the Secure cookie
    assert done.status_code == 303
    cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith("__Host-psp_session="))
    lower = cookie.lower()
    assert "; secure" in lower and "; httponly" in lower and "samesite=lax" in lower and "path=/" in lower
    assert "domain=" not in lower


async def test_the_id_token_must_carry_this_sign_ins_nonce_and_audience(
    sqlite_url: str, idp_app: tuple[str, object], pinned_clock: PinnedClock
) -> None:
    idp, app = idp_app
    signer = app.state.idp.signer  # type: ignore[attr-defined]
    now = pinned_clock.now()
    client = OidcClient(console_settings(sqlite_url, 1, idp))
    token = signer.id_token(ACCOUNTS["coordinator"], now, "psp-console", "nonce-a")
    assert (await client.verify_id_token(token, "nonce-a", now))["sub"] == "demo-coordinator"
    with pytest.raises(SignInRefused, match="nonce"):
        await client.verify_id_token(token, "nonce-b", now)
    with pytest.raises(SignInRefused, match="InvalidAudience"):
        await client.verify_id_token(signer.id_token(ACCOUNTS["coordinator"], now, "other", "nonce-a"), "nonce-a", now)
    with pytest.raises(SignInRefused, match="expired"):
        await client.verify_id_token(token, "nonce-a", now + timedelta(hours=1))
    forged = jwt.encode(jwt.decode(token, options={"verify_signature": False}), "k" * 32, algorithm="HS256")
    with pytest.raises(SignInRefused):
        await client.verify_id_token(forged, "nonce-a", now)


async def test_an_unknown_return_path_after_sign_in_goes_home(sqlite_url: str, idp_url: str) -> None:
    port = free_port()
    app = build_console(console_settings(sqlite_url, port, idp_url))
    async with served(app, port) as base, httpx.AsyncClient(base_url=base) as c:
        authorize = await to_provider(c, "https://evil.example/")
        done = await c.get(await choose(authorize, "analyst"))
    assert done.headers["location"] == "/"
