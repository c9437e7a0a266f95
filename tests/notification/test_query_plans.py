"""The dispatcher's timer scans stay index lookups as sent pages and settled assignments pile up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import create_async_engine

from psp_common.migrations import upgrade_async
from psp_notification.adapters import claims
from psp_notification.adapters.orm import assignments, pages
from psp_notification.adapters.repository import due_query, overdue_query, unanswered_query
from psp_notification.bootstrap import MIGRATIONS
from psp_notification.domain.model import OPEN_STATES
from tests.support import scans_of, write_scans

N = 5000
BACKLOG = 20_000  # enough that the planner would rather look pages up by id than scan them all
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


async def stored(pg_url: str, *tables: tuple[Table, list[dict[str, Any]]]) -> None:
    """The service's schema, then each table's rows, in one transaction."""
    await upgrade_async(MIGRATIONS, pg_url)
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            for table, rows in tables:
                await conn.execute(insert(table), rows)
    finally:
        await engine.dispose()


def page_row(i: int, created_at: datetime, **fields: Any) -> dict[str, Any]:
    """Page ``i`` of assignment ``a-{i}`` and case ``c-{i}`` to supporter ps_1, with ``fields``."""
    return {
        "idempotency_key": f"p-{i}",
        "assignment_id": f"a-{i}",
        "case_id": f"c-{i}",
        "recipient_ref": "ps_1",
        "purpose": "page",
        "created_at": created_at,
        **fields,
    }


async def test_timer_scans_do_not_read_every_settled_page_or_assignment(pg_url: str) -> None:
    """A year of history: answered pages and contacted assignments. Each tick must not read them all."""
    past = NOW - timedelta(days=30)
    await stored(
        pg_url,
        (
            assignments,
            [
                {
                    "assignment_id": f"a-{i}",
                    "case_id": f"c-{i}",
                    "correlation_id": f"k-{i}",
                    "facility": "GEN",
                    "unit": "ICU",
                    "candidates": ["ps_1"],
                    "next_index": 1,
                    "state": "contacted" if i % 50 else "acknowledged",
                    "matched_at": past,
                    "contact_deadline": past + timedelta(hours=24) if i % 50 else NOW + timedelta(hours=1),
                    "overdue_escalated": False,
                }
                for i in range(N)
            ],
        ),
        (
            pages,
            [
                page_row(
                    i,
                    past,
                    state="sent",
                    response="accepted" if i % 50 else None,
                    attempts=1,
                    due_at=past,
                    sent_at=past,
                    ack_deadline=past + timedelta(minutes=15) if i % 50 else NOW + timedelta(minutes=5),
                )
                for i in range(N)
            ],
        ),
    )
    for name, stmt in (
        ("due", due_query(NOW, 50)),
        ("unanswered", unanswered_query(NOW)),
        ("overdue", overdue_query(NOW, sorted(OPEN_STATES))),
    ):
        scans = await scans_of(pg_url, stmt, {})
        assert scans and sum(read for _, _, read in scans) < N // 10, (name, scans)


async def test_a_claim_in_a_backlog_reads_what_it_claims_not_the_backlog(pg_url: str) -> None:
    """Thousands of pending pages all due (a burst the channels are behind on) and a few leases run out: one claim
    of 25 must read about 25 pages in due order, not sort every pending page first (the OR of the two kinds did)."""
    past = NOW - timedelta(minutes=10)
    await stored(
        pg_url,
        (
            pages,
            [
                page_row(
                    i,
                    past,
                    state="sending" if i % 1000 == 0 else "pending",
                    attempts=0,
                    due_at=past + timedelta(milliseconds=i),
                    lease_until=past if i % 1000 == 0 else None,
                    lease_owner="gone" if i % 1000 == 0 else None,
                )
                for i in range(BACKLOG)
            ],
        ),
    )
    params = {"now": NOW, "lease": NOW + timedelta(minutes=1), "owner": "me", "n": 25, "skip": [-1]}
    scans = await write_scans(pg_url, claims._claim(False), params)
    assert scans and sum(read for _, _, read in scans) < BACKLOG // 100, scans
    assert ("ModifyTable", "pages", 25) in scans  # and it leased a full batch
