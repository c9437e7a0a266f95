"""The only place that wires the rules service's concrete adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from psp_common import topics
from psp_common.audit import install_audit
from psp_common.clock import Clock, SystemClock
from psp_common.events.outreach import OutreachRequested
from psp_common.events.triage import TriageRequested
from psp_common.http import BodyLimit, install_error_handlers
from psp_common.kafka import document_publisher
from psp_common.pseudonym import Pseudonymizer
from psp_common.retention import Retention
from psp_common.runtime import Runtime, create_app, run
from psp_rules.adapters.orm import audit_log, metadata
from psp_rules.adapters.ruleset_schema import DEFAULT_FILE, load_text
from psp_rules.entrypoints import api, api_drafts, api_stats, api_whatif, consumers
from psp_rules.handlers import RulesConfig
from psp_rules.referrals import ReferralPolicies
from psp_rules.retention import purge_closed
from psp_rules.settings import RulesSettings

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Container:
    """Everything a rules entrypoint needs."""

    runtime: Runtime
    pseudo: Pseudonymizer
    settings: RulesSettings
    config: RulesConfig
    retention: Retention
    clock: Clock
    referral_policies: ReferralPolicies = field(default_factory=ReferralPolicies)


def build(settings: RulesSettings | None = None, clock: Clock | None = None) -> FastAPI:
    """Wire the rules service and return its ASGI app (``clock`` injectable for tests)."""
    settings = settings or RulesSettings()
    clock = clock or SystemClock()
    runtime = Runtime(settings, metadata, MIGRATIONS)
    default_text = Path(settings.default_ruleset_file or DEFAULT_FILE).read_text(encoding="utf-8")
    config = RulesConfig.from_settings(settings, load_text(default_text), default_text)
    retention = Retention(
        runtime.uow,
        purge_closed,
        settings.retention_days,
        settings.retention_batch,
        settings.retention_poll_s,
        clock.now,
    )
    runtime.background.append(retention.run)
    policies = ReferralPolicies(settings.referral_policy, dict(settings.referral_policies))
    container = Container(runtime, Pseudonymizer.from_settings(settings), settings, config, retention, clock, policies)
    consumers.register(container)
    document_publisher(
        runtime.broker,
        topics.OUTREACH_REQUESTED,
        OutreachRequested,
        "Decisions that people or a team should be offered peer support (keyed by case).",
    )
    document_publisher(
        runtime.broker,
        topics.TRIAGE_REQUESTED,
        TriageRequested,
        "Incidents a triage rule routed to the coordinator's queue in the listener (pseudonyms only; by incident).",
    )
    app = create_app(runtime, "PSP Outreach rules", "Critical Incident Stress rules decide who gets outreach.")
    app.state.container = container
    app.include_router(api.router)
    app.include_router(api_drafts.router)
    app.include_router(api_whatif.router)
    app.include_router(api_stats.router)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_audit(app, runtime.engine, audit_log)  # outermost: 413s are audited too
    return app


def main() -> None:
    """Console entry point: refuses to start on bad settings or, in production, a known secret."""
    run(RulesSettings, build)
