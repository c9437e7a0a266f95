"""The only place that wires the listener's concrete adapters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from psp_common import topics
from psp_common.audit import install_audit
from psp_common.events.intake import IncidentObserved
from psp_common.events.referral import ReferralObserved
from psp_common.http import BodyLimit, install_error_handlers
from psp_common.kafka import document_publisher
from psp_common.pseudonym import Pseudonymizer
from psp_common.quarantine import DbQuarantine, quarantine_purge
from psp_common.retention import Retention
from psp_common.runtime import Runtime, create_app, run
from psp_listener.adapters.orm import audit_log, metadata, quarantine
from psp_listener.entrypoints import api, api_referrals, consumers, fhir_api, triage_api
from psp_listener.normalizer import Normalizer
from psp_listener.settings import ListenerSettings

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Container:
    """Everything a listener entrypoint needs."""

    runtime: Runtime
    pseudo: Pseudonymizer
    settings: ListenerSettings
    normalizer: Normalizer
    quarantine_retention: Retention


def build(settings: ListenerSettings | None = None) -> FastAPI:
    """Wire the listener and return its ASGI app."""
    settings = settings or ListenerSettings()
    runtime = Runtime(settings, metadata, MIGRATIONS)
    runtime.dead_letters.quarantine = DbQuarantine(runtime.engine, quarantine)
    purge = Retention(
        runtime.uow,
        quarantine_purge(quarantine),
        settings.quarantine_retention_days,
        settings.retention_batch,
        settings.retention_poll_s,
        what="quarantined message(s)",
    )
    runtime.background.append(purge.run)
    pseudo = Pseudonymizer.from_settings(settings)
    container = Container(runtime, pseudo, settings, Normalizer(settings, pseudo), purge)
    consumers.register(container)
    document_publisher(
        runtime.broker,
        topics.INCIDENT_OBSERVED,
        IncidentObserved,
        "Normalized, pseudonymized incidents (no patient data, no narrative).",
    )
    document_publisher(
        runtime.broker,
        topics.REFERRAL_OBSERVED,
        ReferralObserved,
        "Referrals (self, colleague, manager, EAP), pseudonymized: who needs support, who referred, how soon.",
    )
    app = create_app(runtime, "PSP Outreach listener", "Intake of occurrence reports, FHIR, huddles and referrals.")
    app.state.container = container
    app.include_router(api.router)
    app.include_router(fhir_api.router)
    app.include_router(api_referrals.router)
    app.include_router(triage_api.router)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_audit(app, runtime.engine, audit_log)  # outermost: 413s are audited too
    return app


def main() -> None:
    """Console entry point: refuses to start on bad settings or, in production, a known secret."""
    run(ListenerSettings, build)


def build_import(settings: ListenerSettings) -> tuple[Runtime, Normalizer]:
    """Wiring of the historical import command: the listener's database and normalizer (no HTTP, no consumers)."""
    return Runtime(settings, metadata, MIGRATIONS), Normalizer(settings, Pseudonymizer.from_settings(settings))
