"""Prometheus metrics: one registry per app, ops-only ``/metrics``, labels that never identify anyone.

Label values are only service, topic, group, partition, reason class, channel and outcome: never a name,
pseudonym, staff id or case id. Gauges that depend on the database (outbox backlog, the program's clocks)
are refreshed by async callbacks at scrape time, one cheap query each.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psp_common.clock import SYSTEM, Clock
from psp_common.db import aware

log = logging.getLogger("psp.metrics")

Refresher = Callable[[], Awaitable[None]]

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def reason_class(reason: str) -> str:
    """The class of a dead-letter reason (never its text, which names fields): validation or handler."""
    if reason.startswith("validation failed"):
        return "validation"
    if reason.startswith("handler failed"):
        return "handler"
    return "other"


class Metrics:
    """A service's metrics on its own registry (several apps in one test process do not collide)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.refreshers: list[Refresher] = []
        self.consumers: set[tuple[str, str]] = set()  # (topic, group) this service consumes, for lag reads
        reg = self.registry
        self.batch_size = Histogram(
            "psp_consumer_batch_size",
            "Records handed to a consumer handler in one call.",
            ["service", "topic", "group"],
            buckets=BATCH_BUCKETS,
            registry=reg,
        )
        self.handler_seconds = Histogram(
            "psp_consumer_handler_seconds",
            "Seconds a consumer spent handling one batch (or one record), database commit included.",
            ["service", "topic", "group"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.lag = Gauge(
            "psp_consumer_lag",
            "Records behind the partition's end: end offset - the group's committed offset, read from the broker at "
            "scrape time (at most every 10 s), and highwater - next offset after each handled batch.",
            ["service", "topic", "group", "partition"],
            registry=reg,
        )
        self.dead_letters = Counter(
            "psp_dead_letters",
            "Messages sent to the dead-letter topic, by reason class (validation or handler).",
            ["service", "topic", "reason"],
            registry=reg,
        )
        self.outbox_rows = Gauge(
            "psp_outbox_backlog_rows", "Outbox rows not yet published (at scrape time).", ["service"], registry=reg
        )
        self.outbox_age = Gauge(
            "psp_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox row in seconds; 0 when empty (at scrape time).",
            ["service"],
            registry=reg,
        )

    def consumes(self, topic: str, group: str) -> None:
        """Register a subscription so its lag can be read from the broker at scrape time."""
        self.consumers.add((topic, group))

    def observe_batch(self, topic: str, group: str, size: int, seconds: float) -> None:
        """One handler call: its batch size and latency."""
        self.batch_size.labels(self.service, topic, group).observe(size)
        self.handler_seconds.labels(self.service, topic, group).observe(seconds)

    def observe_lag(self, topic: str, group: str, partition: int, lag: int) -> None:
        """The lag of one partition after a handled batch."""
        self.lag.labels(self.service, topic, group, str(partition)).set(max(lag, 0))

    def dead_lettered(self, topic: str, reason: str) -> None:
        """Count one dead letter by its reason class."""
        self.dead_letters.labels(self.service, topic, reason_class(reason)).inc()

    def watch_outbox(self, engine: AsyncEngine, outbox: Table, clock: Clock = SYSTEM) -> None:
        """Refresh the outbox gauges at scrape time with one query (count and oldest row)."""

        async def refresh() -> None:
            async with engine.connect() as conn:
                row = (await conn.execute(select(func.count(), func.min(outbox.c.created_at)))).one()
            self.outbox_rows.labels(self.service).set(int(row[0]))
            self.outbox_age.labels(self.service).set(age_seconds(clock.now(), row[1]))

        self.refreshers.append(refresh)

    async def render(self) -> bytes:
        """The text exposition, after refreshing the scrape-time gauges (a failing one is logged, not fatal)."""
        for refresh in self.refreshers:
            try:
                await refresh()
            except Exception as exc:
                log.warning("metrics refresh failed (%s)", type(exc).__name__)
        return generate_latest(self.registry)


def install(app: FastAPI, metrics: Metrics) -> None:
    """``GET /metrics`` (ops-only, unauthenticated like /healthz, not in the OpenAPI schema or audit log)."""
    app.state.metrics = metrics

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(await metrics.render(), media_type=CONTENT_TYPE_LATEST)


def age_seconds(now: datetime, then: datetime | None) -> float:
    """Seconds from ``then`` to ``now`` (0 for None)."""
    return 0.0 if then is None else max((now - aware(then)).total_seconds(), 0.0)
