"""A real rules service (SQLite, no broker: its HTTP API only) trusting the dev provider, and the console
pointed at it, both on real HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from psp_common.migrations import upgrade_async
from psp_console.bootstrap import build as build_console
from psp_rules.bootstrap import MIGRATIONS
from psp_rules.bootstrap import build as build_rules
from psp_rules.settings import RulesSettings
from tests.clock import PinnedClock
from tests.console.conftest import Site, console_settings, free_port, served


@asynccontextmanager
async def api_only(app: FastAPI, port: int) -> AsyncIterator[str]:
    """``app`` on 127.0.0.1:``port`` without its lifespan (no broker: the HTTP API needs none)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
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


@asynccontextmanager
async def console_with_rules(tmp: Path, idp_url: str, clock: PinnedClock) -> AsyncIterator[tuple[Site, FastAPI]]:
    """The rules service (its own SQLite database) and the console calling it with the user's token."""
    rules_db = f"sqlite+aiosqlite:///{tmp}/rules.db"
    await upgrade_async(MIGRATIONS, rules_db)
    rules_app = build_rules(
        RulesSettings(env="dev", database_url=rules_db, kafka_create_topics=False, auth_oidc_issuer=idp_url)
    )
    # The dev provider stamps tokens on the pinned test clock (tests.clock); the service checks them on it too.
    rules_app.state.runtime.tokens.clock = clock.now
    rules_port, port = free_port(), free_port()
    async with api_only(rules_app, rules_port) as rules_url:
        app = build_console(
            console_settings(f"sqlite+aiosqlite:///{tmp}/console.db", port, idp_url, rules_url=rules_url)
        )
        async with served(app, port) as base:
            yield Site(base, idp_url, app), rules_app
    await rules_app.state.container.runtime.engine.dispose()
