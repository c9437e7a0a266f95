"""The only place that wires the matching service's concrete adapters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from psp_common import topics
from psp_common.audit import install_audit
from psp_common.events.matching import SupporterMatched, SupporterUnmatched
from psp_common.http import BodyLimit, install_error_handlers
from psp_common.kafka import document_publisher
from psp_common.pseudonym import Pseudonymizer
from psp_common.retention import Retention
from psp_common.runtime import Runtime, create_app, run
from psp_matching.adapters.orm import audit_log, metadata
from psp_matching.entrypoints import api_cases, api_roster, api_shifts, consumers
from psp_matching.handlers import Deps
from psp_matching.retention import purge_closed
from psp_matching.settings import MatchingSettings

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Container:
    """Everything a matching entrypoint needs."""

    runtime: Runtime
    pseudo: Pseudonymizer
    settings: MatchingSettings
    deps: Deps
    retention: Retention


def build(settings: MatchingSettings | None = None, deps: Deps | None = None) -> FastAPI:
    """Wire the matching service and return its ASGI app (``deps`` lets tests fix the clock)."""
    settings = settings or MatchingSettings()
    runtime = Runtime(settings, metadata, MIGRATIONS)
    pseudo = Pseudonymizer.from_settings(settings)
    deps = deps or Deps(settings, pseudo)
    retention = Retention(
        runtime.uow,
        purge_closed,
        settings.retention_days,
        settings.retention_batch,
        settings.retention_poll_s,
        deps.clock,
    )
    runtime.background.append(retention.run)
    container = Container(runtime, pseudo, settings, deps, retention)
    consumers.register(container)
    document_publisher(
        runtime.broker,
        topics.SUPPORTER_MATCHED,
        SupporterMatched,
        "A primary supporter (and backups / co-facilitators) for a case; pseudonyms only.",
    )
    document_publisher(
        runtime.broker,
        topics.SUPPORTER_UNMATCHED,
        SupporterUnmatched,
        "Nobody eligible: reasons by constraint (counts only); a coordinator steps in.",
    )
    app = create_app(runtime, "PSP Outreach matching", "Peer-supporter roster, availability and matching.")
    app.state.container = container
    app.include_router(api_roster.router)
    app.include_router(api_shifts.router)
    app.include_router(api_cases.router)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_audit(app, runtime.engine, audit_log)  # outermost: 413s are audited too
    return app


def main() -> None:
    """Console entry point: refuses to start on bad settings or, in production, a known secret."""
    run(MatchingSettings, build)
