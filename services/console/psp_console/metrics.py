"""The console's own metrics, beside the shared ones: sign-ins by outcome, calls to the services' APIs by
service and outcome class, and live sessions (at scrape time). Labels never name a person or a record."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psp_common.clock import Clock
from psp_common.metrics import LATENCY_BUCKETS, Metrics
from psp_console.adapters.orm import web_sessions

SIGN_IN_OUTCOMES = ("signed_in", "refused", "no_role", "provider_error", "provider_unavailable")
CALL_OUTCOMES = ("ok", "refused", "error", "unreachable")


class ConsoleMetrics(Metrics):
    """Metrics of the console process."""

    def __init__(self, service: str = "console") -> None:
        super().__init__(service)
        reg = self.registry
        self.sign_ins = Counter(
            "psp_console_sign_ins",
            "Completed sign-in callbacks by outcome (signed_in, refused, no_role, provider_error, "
            "provider_unavailable).",
            ["outcome"],
            registry=reg,
        )
        self.backend_seconds = Histogram(
            "psp_console_backend_call_seconds",
            "Calls to a service's API on a user's behalf, by service and outcome class (ok: 2xx/3xx or an accepted "
            "report; refused: 4xx; error: 5xx; unreachable: no answer).",
            ["service", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.sessions = Gauge(
            "psp_console_sessions_active", "Signed-in sessions not yet expired (at scrape time).", registry=reg
        )

    def signed_in(self, outcome: str) -> None:
        """Count one sign-in callback."""
        self.sign_ins.labels(outcome).inc()

    def backend_call(self, service: str, outcome: str, seconds: float) -> None:
        """One call to a service's API."""
        self.backend_seconds.labels(service, outcome).observe(seconds)

    def watch_sessions(self, engine: AsyncEngine, clock: Clock) -> None:
        """Refresh the live-session gauge at scrape time with one count."""

        async def refresh() -> None:
            query = select(func.count()).select_from(web_sessions).where(web_sessions.c.expires_at > clock.now())
            async with engine.connect() as conn:
                self.sessions.set(int((await conn.execute(query)).scalar_one()))

        self.refreshers.append(refresh)


def call_outcome(status: int | None) -> str:
    """The outcome class of a call: its HTTP status, or None when the service did not answer."""
    if status is None:
        return "unreachable"
    if status >= 500:
        return "error"
    return "refused" if status >= 400 else "ok"
