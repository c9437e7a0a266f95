"""Notification's metrics: pages by channel and outcome, and the program's clocks computed at scrape time.

The clocks are counts only (no case, assignment or person in a label): supporter pages past their
acknowledgement window, open assignments past their contact deadline, unmatched cases still open.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psp_common.clock import Clock
from psp_common.events.status import OutreachStatus
from psp_common.metrics import Metrics
from psp_notification.adapters.channels import ChannelRouter
from psp_notification.adapters.orm import assignments, cases
from psp_notification.adapters.repository import unanswered_query
from psp_notification.domain.model import OPEN_STATES


def count_pages(metrics: Metrics, router: ChannelRouter) -> Counter:
    """Count every channel attempt of the router by channel kind and outcome (sent or failed)."""
    pages = Counter(
        "psp_pages",
        "Page deliveries attempted per channel, by outcome (sent or failed; a failure falls through to the next).",
        ["service", "channel", "outcome"],
        registry=metrics.registry,
    )
    router.observe = lambda kind, outcome: pages.labels(metrics.service, kind, outcome).inc()
    return pages


def watch_clocks(metrics: Metrics, engine: AsyncEngine, clock: Clock) -> None:
    """The program's clocks as gauges refreshed at scrape time (three counts in one connection)."""
    labels = ["service"]
    acks = Gauge(
        "psp_acks_overdue",
        "Supporter pages sent and unanswered past their acknowledgement window.",
        labels,
        registry=metrics.registry,
    )
    contacts = Gauge(
        "psp_contacts_overdue",
        "Open assignments (paging, acknowledged, escalated) past their contact deadline.",
        labels,
        registry=metrics.registry,
    )
    unmatched = Gauge(
        "psp_unmatched_cases_open",
        "Cases no supporter could be matched to, still open.",
        labels,
        registry=metrics.registry,
    )
    states = sorted(s.value for s in OPEN_STATES)

    async def refresh() -> None:
        now = clock.now()
        overdue_contacts = select(func.count()).where(
            assignments.c.state.in_(states), assignments.c.contact_deadline <= now
        )
        open_unmatched = select(func.count()).where(
            cases.c.status == OutreachStatus.UNMATCHED.value, cases.c.purged_at.is_(None)
        )
        async with engine.connect() as conn:
            n_acks = (
                await conn.execute(select(func.count()).select_from(unanswered_query(now).subquery()))
            ).scalar_one()
            n_contacts = (await conn.execute(overdue_contacts)).scalar_one()
            n_unmatched = (await conn.execute(open_unmatched)).scalar_one()
        acks.labels(metrics.service).set(n_acks)
        contacts.labels(metrics.service).set(n_contacts)
        unmatched.labels(metrics.service).set(n_unmatched)

    metrics.refreshers.append(refresh)
