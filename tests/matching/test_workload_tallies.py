"""The workload tallies (PostgreSQL): every writer of team rows keeps them equal to a recount of the team rows,
and a batch reads O(supporters) tally rows in the same statements however many team rows history holds."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from psp_matching.adapters.orm import members, workload_days, workload_months
from psp_matching.adapters.workload import WorkloadRepository, day_of, month_of
from tests.matching.conftest import Service, service_on
from tests.matching.factories import NOW
from tests.matching.test_backup_acknowledged import acknowledged
from tests.matching.test_handlers import published, register, request
from tests.matching.test_set_based import as_batch, one_at_a_time
from tests.statements import counting

pytestmark = [pytest.mark.postgres]
TZ = "America/Toronto"
Counts = dict[tuple[date, str], int]


async def recounted(svc: Service) -> tuple[Counts, Counts]:
    """From every team row: distinct cases per (cap month, supporter); per (UTC day of latest row, supporter)."""
    async with svc.container.runtime.session() as s:
        rows = (await s.execute(select(members.c.supporter_ref, members.c.case_id, members.c.created_at))).all()
    in_month: dict[tuple[date, str], set[str]] = {}
    latest: dict[tuple[str, str], datetime] = {}
    for ref, case_id, at in rows:
        in_month.setdefault((month_of(at, TZ).first, ref), set()).add(case_id)
        latest[(ref, case_id)] = max(at, latest.get((ref, case_id), at))
    days: Counts = {}
    for (ref, _), at in latest.items():
        days[(day_of(at), ref)] = days.get((day_of(at), ref), 0) + 1
    return {k: len(v) for k, v in in_month.items()}, days


async def tallies(svc: Service) -> tuple[Counts, Counts]:
    async with svc.container.runtime.session() as s:
        months = {(m, r): n for m, r, n in await s.execute(select(workload_months)) if n}
        days = {(d, r): n for d, r, n in await s.execute(select(workload_days)) if n}
    return months, days


async def test_tallies_equal_a_recount_after_mixed_batches(pg_url: str) -> None:
    async with service_on(pg_url, monthly_cap=100, cap_time_zone=TZ) as svc:
        for staff_id in ("S-1", "S-2", "S-3", "S-4"):
            await register(svc, staff_id)
        last_month, this_month = uuid.uuid4(), uuid.uuid4()
        await one_at_a_time(
            svc,
            [
                request(svc, ["E-1"], last_month, requested_at=NOW - timedelta(days=40)),
                request(svc, ["E-2"], this_month, requested_at=NOW - timedelta(days=2)),
            ],
        )
        again = uuid.uuid4()
        await as_batch(
            svc,
            [
                request(svc, ["E-1"], last_month, urgency="immediate"),  # re-matched in a new month
                request(svc, ["E-2"], this_month, urgency="immediate"),  # re-matched in the same month
                request(svc, ["E-3"], again),  # a new case, re-matched later in the same batch
                request(svc, ["E-3"], again, urgency="immediate", requested_at=NOW + timedelta(days=1)),
                request(svc, ["E-4"]),
            ],
        )
        matched = [m for _, m in await published(svc) if m.get("backups")]
        acks = [acknowledged(m, m["backups"][0]["supporter_ref"]) for m in matched[-3:]]
        await as_batch(svc, [*acks, acks[0]])  # backups acknowledging, one twice
        await one_at_a_time(svc, [acknowledged(matched[0], matched[0]["backups"][1]["supporter_ref"])])
        assert await tallies(svc) == await recounted(svc)
        months, _ = await tallies(svc)
        assert {m for m, _ in months} == {date(2026, 10, 1), date(2026, 11, 1)}


async def read_for_a_batch(svc: Service) -> tuple[int, int]:
    """Tally rows a batch judged at NOW reads, and the statements of a batch of three new cases."""
    s = svc.container.deps.settings
    async with svc.container.runtime.session() as session:
        view = await WorkloadRepository(session).read_batch(
            [], {month_of(NOW, TZ).first}, day_of(NOW - timedelta(days=s.fairness_window_days)), TZ
        )
    rows = sum(map(len, view.tallies.months.values())) + sum(map(len, view.tallies.days.values()))
    with counting(svc.container.runtime.engine) as seen:
        await as_batch(svc, [request(svc, [f"E-{uuid.uuid4().hex[:8]}"]) for _ in range(3)])
    return rows, len(seen)


async def test_a_batch_reads_the_same_whatever_the_history(pg_url: str) -> None:
    async with service_on(pg_url, monthly_cap=100_000, cap_time_zone=TZ) as svc:
        for staff_id in ("S-1", "S-2", "S-3"):
            await register(svc, staff_id)

        async def history(n: int) -> None:  # cases spread over the fairness window's days
            at = [NOW - timedelta(hours=i) for i in range(n)]
            await as_batch(svc, [request(svc, [f"E-{uuid.uuid4().hex[:8]}"], requested_at=t) for t in at])

        await history(10)
        small_rows, small_statements = await read_for_a_batch(svc)
        await history(490)
        big_rows, big_statements = await read_for_a_batch(svc)
        assert big_statements == small_statements
        supporters, days = 3, 30 + 1
        assert big_rows <= supporters * (1 + days) < 500, "O(supporters) rows, not O(team rows)"
        assert big_rows > small_rows  # the history is there: more days have cases


async def test_the_migration_backfills_the_tallies_from_the_team_rows(pg_url: str) -> None:
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from psp_common.migrations import alembic_config
    from psp_matching.bootstrap import MIGRATIONS

    cfg = alembic_config(MIGRATIONS, pg_url)
    await asyncio.to_thread(command.upgrade, cfg, "0004")
    oct_30, nov_2, nov_3 = (datetime(2026, m, d, 12, tzinfo=UTC) for m, d in ((10, 30), (11, 2), (11, 3)))
    rows = [  # (assignment, supporter, case, at): case c1 re-matched onto ps_a in a new month, then again
        ("a1", "ps_a", "c1", oct_30),
        ("a2", "ps_a", "c1", nov_2),
        ("a3", "ps_a", "c1", nov_3),
        ("a3", "ps_b", "c1", nov_3),
        ("a4", "ps_a", "c2", nov_2),
    ]
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO assignment_members (assignment_id, supporter_ref, case_id, role, created_at)"
                    " VALUES (:a, :s, :c, 'primary', :t)"
                ),
                [{"a": a, "s": s, "c": c, "t": t} for a, s, c, t in rows],
            )
        await asyncio.to_thread(command.upgrade, cfg, "head")
        async with engine.connect() as conn:
            months = set((await conn.execute(select(workload_months))).all())
            days = set((await conn.execute(select(workload_days))).all())
        await asyncio.to_thread(command.downgrade, cfg, "0004")  # and the way back works
    finally:
        await engine.dispose()
    oct_, nov = date(2026, 10, 1), date(2026, 11, 1)
    assert months == {(oct_, "ps_a", 1), (nov, "ps_a", 2), (nov, "ps_b", 1)}
    assert days == {(date(2026, 11, 3), "ps_a", 1), (date(2026, 11, 3), "ps_b", 1), (date(2026, 11, 2), "ps_a", 1)}
