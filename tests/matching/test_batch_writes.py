"""A consumed batch of new cases is written in one insert per table, and the batch's later events see what its
earlier ones decided (continuity, the same case again)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from psp_matching.adapters.cases import CaseRepository
from psp_matching.adapters.orm import assignments, cases, members, supported
from psp_matching.set_based import on_outreach_requested_many
from tests.matching.conftest import Service, service_on
from tests.matching.factories import NOW
from tests.matching.test_handlers import published, register, request

TABLES = ("cases", "assignments", "supported_people", "assignment_members")


@pytest.fixture(params=["postgres", "sqlite"])
def url(request: pytest.FixtureRequest) -> str:
    """PostgreSQL (production) and SQLite (embedded default)."""
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


@pytest.fixture
async def svc_on(url: str) -> AsyncIterator[Service]:
    """Matching on ``url``, the clock fixed at NOW."""
    async with service_on(url) as service:
        yield service


def inserts_into(statements: list[str]) -> list[str]:
    """Target tables of the INSERT statements seen, in order."""
    return [s.split()[2] for s in statements if s.startswith("INSERT INTO") and s.split()[2] in TABLES]


async def test_new_cases_of_a_batch_go_in_one_insert_per_table_and_later_events_see_them(svc_on: Service) -> None:
    svc = svc_on
    await register(svc, "S-1")
    await register(svc, "S-2")
    statements: list[str] = []
    engine = svc.container.runtime.engine.sync_engine

    def seen(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        statements.append(" ".join(statement.split()))

    first, second = request(svc, ["E-1"]), request(svc, ["E-1", "E-2"])
    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        async with svc.container.runtime.uow() as uow:  # one consumed batch
            await on_outreach_requested_many([first, second], uow, svc.container.deps)
            await uow.commit()
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
    assert sorted(inserts_into(statements)) == sorted(TABLES)  # one insert per table for the whole batch
    out = await published(svc)
    (_, one), (_, two) = out
    # Continuity: the second case sees that the first one's primary is supporting E-1 now.
    assert two["primary"]["supporter_ref"] == one["primary"]["supporter_ref"]
    assert "already supporting this person" in two["primary"]["reasons"]
    async with svc.container.runtime.session() as s:
        helping = await CaseRepository(s).supporting(frozenset({svc.ref("E-1")}), NOW - timedelta(days=1))
    assert len(out) == 2 and helping == {one["primary"]["supporter_ref"]}
    async with svc.container.runtime.session() as s:
        counts = {
            t.name: (await s.execute(select(func.count()).select_from(t))).scalar_one()
            for t in (cases, assignments, supported, members)
        }
    assert counts == {"cases": 2, "assignments": 2, "supported_people": 3, "assignment_members": 2}


async def test_the_same_new_case_twice_in_a_batch_is_stored_once_and_escalated(svc_on: Service) -> None:
    svc = svc_on
    await register(svc, "S-1")
    await register(svc, "S-2")
    first = request(svc, ["E-1"])
    worse = request(svc, ["E-1"], case_id=first.case_id, urgency="immediate")
    async with svc.container.runtime.uow() as uow:
        await on_outreach_requested_many([first, worse], uow, svc.container.deps)  # decides on what first made
        await uow.commit()
    case = (await svc.client.get(f"/v1/cases/{first.case_id}")).json()
    assert case["urgency"] == "immediate"
    async with svc.container.runtime.session() as s:
        n = (await s.execute(select(func.count()).select_from(cases))).scalar_one()
        active = (
            await s.execute(select(func.count()).select_from(assignments).where(assignments.c.status == "active"))
        ).scalar_one()
    assert n == 1 and active == 1
    assert len(await published(svc)) == 2
