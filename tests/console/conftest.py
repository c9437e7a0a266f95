"""The console and the dev identity provider, each served by uvicorn on a free port (real HTTP between them)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from psp_common.auth import TokenVerifier
from psp_common.devrun import fetch_dev_token
from psp_common.migrations import upgrade_async
from psp_common.settings import ServiceSettings
from psp_console.bootstrap import build as build_console
from psp_console.devidp.app import build as build_idp
from psp_console.devidp.settings import DevIdpSettings
from psp_console.settings import ConsoleSettings
from psp_matching.bootstrap import MIGRATIONS as M_MIG
from psp_matching.bootstrap import build as build_matching
from psp_matching.settings import MatchingSettings
from psp_notification.bootstrap import MIGRATIONS as N_MIG
from psp_notification.bootstrap import build as build_notification
from psp_notification.settings import NotificationSettings
from psp_rules.bootstrap import MIGRATIONS as R_MIG
from psp_rules.bootstrap import build as build_rules
from psp_rules.settings import RulesSettings
from tests.clock import PinnedClock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def served(app: FastAPI, port: int, lifespan: str = "on") -> AsyncIterator[str]:
    """``app`` (with its lifespan) on 127.0.0.1:``port`` in a thread with its own loop; yields the base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)


@dataclass
class Site:
    """The running console and its provider."""

    console: str
    idp: str
    app: FastAPI

    def client(self) -> httpx.AsyncClient:
        """A cookie-keeping HTTP client that does not follow redirects (each hop is checked)."""
        return httpx.AsyncClient(base_url=self.console, follow_redirects=False, timeout=10)


def console_settings(database_url: str, port: int, idp: str, **over: object) -> ConsoleSettings:
    values: dict[str, object] = {
        "env": "dev",
        "database_url": database_url,
        "http_port": port,
        "console_public_url": f"http://127.0.0.1:{port}",
        "console_oidc_issuer": idp,
        "listener_url": "http://127.0.0.1:9",  # no services here: the status page says they cannot be reached
        "rules_url": "http://127.0.0.1:9",
        "matching_url": "http://127.0.0.1:9",
        "notification_url": "http://127.0.0.1:9",
    }
    return ConsoleSettings(**(values | over))  # type: ignore[arg-type]


@pytest.fixture
async def idp_url() -> AsyncIterator[str]:
    """The dev provider on a free port."""
    port = free_port()
    async with served(build_idp(DevIdpSettings(env="dev", http_port=port)), port) as url:
        yield url


@pytest.fixture
async def site(sqlite_url: str, idp_url: str) -> AsyncIterator[Site]:
    """The console (SQLite) signed in through the dev provider over real HTTP."""
    port = free_port()
    app = build_console(console_settings(sqlite_url, port, idp_url))
    async with served(app, port) as base:
        yield Site(base, idp_url, app)


HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


@dataclass
class Flow:
    """One sign-in's hops: where the console sent the browser and where the provider sent it back."""

    authorize_url: str
    callback: str  # path + query on the console


async def to_provider(client: httpx.AsyncClient, next_path: str = "/") -> str:
    """Start signing in at the console; the provider's authorize URL it redirects to."""
    r = await client.get("/auth/login", params={"next": next_path})
    assert r.status_code == 303, r.text
    return r.headers["location"]


async def choose(authorize_url: str, account: str) -> str:
    """At the provider: open the chooser, pick ``account``; the console callback (path and query) it returns."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as idp:
        page = await idp.get(authorize_url)
        assert page.status_code == 200, page.text
        form = dict(HIDDEN.findall(page.text)) | {"account": account}
        base = authorize_url.split("/authorize", 1)[0]
        back = await idp.post(base + "/authorize", data=form)
    assert back.status_code == 303, back.text
    location = back.headers["location"]
    return location[location.index("/auth/callback") :]


async def sign_in(client: httpx.AsyncClient, account: str, next_path: str = "/") -> httpx.Response:
    """The whole code flow as a browser does it; the console's answer to the callback."""
    authorize = await to_provider(client, next_path)
    return await client.get(await choose(authorize, account))


@dataclass
class Staffed(Site):
    """The console with real matching, notification and rules services behind it (SQLite, no broker)."""

    matching: str
    notification: str
    rules: str

    async def coordinator(self) -> httpx.AsyncClient:
        """A client to the services with a coordinator token from the dev provider (to set data up)."""
        token = await asyncio.to_thread(fetch_dev_token, self.idp, ["coordinator"], "test-setup")
        return httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10, trust_env=False)


async def backend(
    build: Callable[..., FastAPI], settings: ServiceSettings, migrations: Path, clock: PinnedClock
) -> FastAPI:
    """A service app on its migrated database, verifying the dev provider's tokens on the pinned clock."""
    await upgrade_async(migrations, settings.database_url)
    app = build(settings)
    app.state.runtime.tokens = TokenVerifier(settings, clock=clock.now)
    return app


@pytest.fixture
async def staffed_site(tmp_path: Path, idp_url: str, pinned_clock: PinnedClock) -> AsyncIterator[Staffed]:
    """Matching, notification and rules over real HTTP (lifespan off: no broker; the HTTP API only), the console
    pointed at them; everyone verifies the dev provider's tokens."""
    common = {"env": "dev", "auth_oidc_issuer": idp_url, "kafka_create_topics": False}
    apps = {
        "matching": await backend(
            build_matching,
            MatchingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/m.db", **common),
            M_MIG,
            pinned_clock,
        ),
        "notification": await backend(
            build_notification,
            NotificationSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/n.db", **common),
            N_MIG,
            pinned_clock,
        ),
        "rules": await backend(
            build_rules,
            RulesSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/r.db", **common),
            R_MIG,
            pinned_clock,
        ),
    }
    async with contextlib.AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(served(app, free_port(), "off")) for name, app in apps.items()}
        port = free_port()
        settings = console_settings(
            f"sqlite+aiosqlite:///{tmp_path}/c.db",
            port,
            idp_url,
            matching_url=urls["matching"],
            notification_url=urls["notification"],
            rules_url=urls["rules"],
        )
        app = build_console(settings)
        base = await stack.enter_async_context(served(app, port))
        yield Staffed(base, idp_url, app, urls["matching"], urls["notification"], urls["rules"])
