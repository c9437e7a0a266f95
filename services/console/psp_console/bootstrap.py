"""The only place that wires the console: its database, the OIDC client, the services' APIs, the routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from psp_common import logs, metrics, startup
from psp_common.clock import Clock, SystemClock
from psp_common.db import make_engine
from psp_common.migrations import upgrade_async
from psp_common.runtime import serve
from psp_console.adapters.audit import ConsoleAudit
from psp_console.adapters.oidc import OidcClient
from psp_console.adapters.services import Backends
from psp_console.adapters.sessions import SessionStore
from psp_console.entrypoints import (
    auth,
    pages_audit,
    pages_board,
    pages_case,
    pages_directory,
    pages_evaluation,
    pages_home,
    pages_optouts,
    pages_refer,
    pages_roster,
    pages_rules,
    pages_rules_draft,
    pages_rules_whatif,
    pages_safety_calls,
    pages_shifts,
    pages_status,
    pages_triage,
    web,
)
from psp_console.metrics import ConsoleMetrics
from psp_console.settings import ConsoleSettings, config_problems

MIGRATIONS = Path(__file__).parent / "migrations"
STATIC = Path(__file__).parent / "static"
PURGE_EVERY_S = 300

log = logging.getLogger("psp.console")

ROUTERS = [
    auth.router,
    pages_home.router,
    pages_board.router,
    pages_case.router,
    pages_status.router,
    pages_rules.router,
    pages_rules_draft.router,
    pages_rules_whatif.router,
    pages_roster.router,
    pages_shifts.router,
    pages_directory.router,
    pages_optouts.router,
    pages_refer.router,
    pages_evaluation.router,
    pages_safety_calls.router,
    pages_audit.router,
    pages_triage.router,
]
"""Every page area's router (add yours here, with its PageSpec in domain/access.py)."""


@dataclass
class Console:
    """Everything a console entrypoint needs (``request.app.state.console``)."""

    settings: ConsoleSettings
    clock: Clock
    engine: AsyncEngine
    sessions: SessionStore
    oidc: OidcClient
    backends: Backends
    audit: ConsoleAudit
    metrics: ConsoleMetrics


async def _purge(console: Console) -> None:
    timeout = timedelta(seconds=console.settings.console_login_timeout_s)
    while True:
        with contextlib.suppress(Exception):
            await console.sessions.purge(console.clock.now(), timeout)
        await asyncio.sleep(PURGE_EVERY_S)


def build(
    settings: ConsoleSettings | None = None,
    *,
    clock: Clock | None = None,
    backend_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Wire the console and return its ASGI app (clock and the services' transport injectable for tests)."""
    settings = settings or ConsoleSettings()
    engine = make_engine(settings.database_url)
    idle = timedelta(minutes=settings.console_session_idle_minutes)
    clock = clock or SystemClock()
    console_metrics = ConsoleMetrics(settings.service_name)
    console_metrics.watch_sessions(engine, clock)
    console = Console(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=SessionStore(engine, idle),
        oidc=OidcClient(settings),
        backends=Backends.from_settings(settings, backend_transport, console_metrics),
        audit=ConsoleAudit(engine),
        metrics=console_metrics,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await upgrade_async(MIGRATIONS, settings.database_url)
        purge = asyncio.create_task(_purge(console))
        log.info("console ready")
        try:
            yield
        finally:
            purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purge
            await console.backends.aclose()
            await engine.dispose()

    app = FastAPI(
        title="PSP Outreach console",
        description="The coordinators' web application.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.console = console
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"database": f"error: {type(exc).__name__}"}, status_code=503)
        return JSONResponse({"database": "ok"})

    metrics.install(app, console_metrics)
    web.install(app)
    return app


def main() -> None:
    """Console entry point: refuses to start on bad settings (exit 2, one line per problem)."""
    settings = startup.load(ConsoleSettings, config_problems)
    logs.configure(settings.log_level, settings.service_name)
    logs.quiet_http_clients()
    serve(build(settings), settings)
