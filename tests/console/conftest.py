"""The console and the dev identity provider, each served by uvicorn on a free port (real HTTP between them)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from psp_console.bootstrap import build as build_console
from psp_console.devidp.app import build as build_idp
from psp_console.devidp.settings import DevIdpSettings
from psp_console.settings import ConsoleSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def served(app: FastAPI, port: int) -> AsyncIterator[str]:
    """``app`` (with its lifespan) on 127.0.0.1:``port`` in a thread with its own loop; yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
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
