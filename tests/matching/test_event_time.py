"""Matching judges a requested case at the instant rules requested it, not when the event is handled.

Shifts, the monthly cap's month, fairness and continuity are taken at ``requested_at`` (or the envelope's
``produced_at`` on older events), so a replay of ``psp.rules.outreach-requested.v1`` a month later, or a
consumer that lags across a month end, picks the supporters live processing did. The clock is a ManualClock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from psp_common.clock import ManualClock
from psp_matching.adapters.roster import RosterRepository
from psp_matching.set_based import on_outreach_requested_many
from tests.matching.conftest import Service, service_on
from tests.matching.factories import NOW
from tests.matching.test_handlers import handle, published, register, request

OCT_30 = datetime(2026, 10, 30, 15, 0, tzinfo=UTC)
OCT_31 = datetime(2026, 10, 31, 15, 0, tzinfo=UTC)
NOV_1 = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
NOV_2 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@asynccontextmanager
async def on_clock(url: str, clock: ManualClock) -> AsyncIterator[Service]:
    """Matching at ``url`` whose handling time is ``clock``."""
    async with service_on(url) as svc:
        svc.container.deps.clock = clock.now
        yield svc


async def shift(svc: Service, staff_id: str, start: datetime, hours: int = 12) -> None:
    async with svc.container.runtime.uow() as uow:
        await RosterRepository(uow.session).add_shifts(
            [(svc.ref(staff_id), start, start + timedelta(hours=hours))], "t"
        )
        await uow.commit()


async def roster_with_shifts(svc: Service) -> None:
    """S-A works the day of the request; S-B works a day a month later (when the replay runs)."""
    await register(svc, "S-A")
    await register(svc, "S-B")
    await shift(svc, "S-A", NOW - timedelta(hours=8))
    await shift(svc, "S-B", NOW + timedelta(days=30, hours=-8))


def primaries(out: list[tuple[str, dict[str, Any]]]) -> list[str | None]:
    return [m["primary"]["supporter_ref"] if "primary" in m else None for _, m in out]


@pytest.mark.parametrize("instant", ["requested_at", "produced_at"])
async def test_a_replay_a_month_later_picks_the_supporter_live_processing_did(tmp_path: Any, instant: str) -> None:
    # produced_at: an event from before requested_at existed is judged when it was produced.
    live_clock, replay_clock = ManualClock(NOW + timedelta(seconds=2)), ManualClock(NOW + timedelta(days=30))
    async with on_clock(f"sqlite+aiosqlite:///{tmp_path}/live.db", live_clock) as live:
        await roster_with_shifts(live)
        older: dict[str, Any] = {"requested_at": None, "produced_at": NOW} if instant == "produced_at" else {}
        event = request(live, ["E-1"], **older)
        await handle(live, event)
        [(_, matched_live)] = await published(live)
    async with on_clock(f"sqlite+aiosqlite:///{tmp_path}/replay.db", replay_clock) as replay:
        await roster_with_shifts(replay)
        await handle(replay, event)  # the same event, consumed again a month later into a fresh matching
        [(_, matched_again)] = await published(replay)
        case = (await replay.client.get(f"/v1/cases/{event.case_id}")).json()
    assert matched_live["primary"]["supporter_ref"] == replay.ref("S-A")
    assert "on shift now" in matched_live["primary"]["reasons"]
    assert matched_again["primary"] == matched_live["primary"]  # shift at the request, not at the replay
    assert datetime.fromisoformat(case["assignments"][0]["created_at"]) == NOW  # dated when it was judged


async def test_a_request_from_october_handled_in_november_counts_october_cases(sqlite_url: str) -> None:
    clock = ManualClock(OCT_30)
    async with on_clock(sqlite_url, clock) as svc:
        await register(svc, "S-1", max_assignments_per_month=1)  # same site: everyone's first choice
        await register(svc, "S-2", site="NORTH")
        await handle(svc, request(svc, ["E-1"], requested_at=OCT_30))  # S-1's one October case
        clock.set(NOV_2)  # the consumer lagged over the month end
        await handle(svc, request(svc, ["E-2"], requested_at=OCT_31))  # October: S-1 is at the cap
        await handle(svc, request(svc, ["E-3"], requested_at=NOV_1))  # November: S-1 is free again
        out = await published(svc)
        month = {s["staff_id"]: s["assignments_this_month"] for s in (await svc.client.get("/v1/supporters")).json()}
    assert primaries(out) == [svc.ref("S-1"), svc.ref("S-2"), svc.ref("S-1")]
    assert month == {"S-1": 1, "S-2": 0}  # the case requested on October 31 counts in October


@pytest.fixture(params=["postgres", "sqlite"])
def url(request: pytest.FixtureRequest) -> str:
    """PostgreSQL (production) and SQLite (embedded default)."""
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


async def test_a_batch_spanning_two_months_counts_each_month_separately(url: str) -> None:
    async with on_clock(url, ManualClock(NOV_2)) as svc:
        await register(svc, "S-1", max_assignments_per_month=1)
        await register(svc, "S-2", site="NORTH", max_assignments_per_month=1)
        reads: list[str] = []

        def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            if "assignment_members.created_at >=" in statement:
                reads.append(statement)

        engine = svc.container.runtime.engine.sync_engine
        sa_event.listen(engine, "before_cursor_execute", count)
        try:
            async with svc.container.runtime.uow() as uow:  # one consumed batch, requested across the month end
                asked = (("E-1", OCT_31), ("E-2", NOV_1), ("E-3", OCT_31 + timedelta(hours=8)))
                events = [request(svc, [person], requested_at=at) for person, at in asked]
                await on_outreach_requested_many(events, uow, svc.container.deps)
                await uow.commit()
        finally:
            sa_event.remove(engine, "before_cursor_execute", count)
        out = await published(svc)
    # October: S-1 then (at the cap) S-2; November: S-1 again. Judged on the handling month: S-1, S-2, none.
    assert primaries(out) == [svc.ref("S-1"), svc.ref("S-1"), svc.ref("S-2")]
    assert reads == []  # each month answered from its tallies (adapters.tally), never from the team rows


async def test_a_batch_requested_moments_apart_reads_shifts_once_and_judges_each_at_its_instant(
    sqlite_url: str,
) -> None:
    async with on_clock(sqlite_url, ManualClock(NOW + timedelta(hours=2))) as svc:
        await register(svc, "S-A")
        await register(svc, "S-B")
        await shift(svc, "S-A", NOW - timedelta(hours=8), hours=8)  # ends at NOW
        await shift(svc, "S-B", NOW + timedelta(minutes=20))
        reads: list[str] = []

        def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            if statement.lstrip().startswith("SELECT shifts.staff_ref"):
                reads.append(statement)

        engine = svc.container.runtime.engine.sync_engine
        sa_event.listen(engine, "before_cursor_execute", count)
        try:
            async with svc.container.runtime.uow() as uow:  # one consumed batch
                asked = (("E-1", NOW - timedelta(minutes=5)), ("E-2", NOW + timedelta(minutes=40)))
                events = [request(svc, [person], requested_at=at) for person, at in asked]
                await on_outreach_requested_many(events, uow, svc.container.deps)
                await uow.commit()
        finally:
            sa_event.remove(engine, "before_cursor_execute", count)
        out = await published(svc)
    assert primaries(out) == [svc.ref("S-A"), svc.ref("S-B")]
    assert all("on shift now" in m["primary"]["reasons"] for _, m in out)
    assert len(reads) == 1
