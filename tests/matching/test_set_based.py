"""Set-based consumers (PostgreSQL): a consumed batch costs the same statements whatever its size, and decides
exactly what handling its events one at a time (batches of one, as with batching off or the fallback after a
failed batch) decides: the same supporters, cap effects, rows and events."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from psp_common import topics
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_common.events.vocab import StaffRef
from psp_matching import set_based
from psp_matching.adapters.orm import assignments, cases, members, outbox, supported, workload_days, workload_months
from tests.matching.conftest import Service, service_on
from tests.matching.factories import NOW
from tests.matching.test_backup_acknowledged import acknowledged
from tests.matching.test_handlers import published, register, request
from tests.statements import Statements, counting
from tests.support import fresh_database

pytestmark = [pytest.mark.postgres]


@pytest.fixture
async def other_pg_url(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A second fresh PostgreSQL database."""
    async with fresh_database(pg_admin_dsn) as (_, url):
        yield url


async def one_at_a_time(svc: Service, events: Sequence[Any]) -> None:
    """Each event in its own transaction, a batch of one, as the consumer's fallback handles them."""
    for event in events:
        async with svc.container.runtime.uow() as uow:
            if isinstance(event, OutreachRequested):
                await set_based.on_outreach_requested_many([event], uow, svc.container.deps)
            else:
                await set_based.on_status_many([event], uow, svc.container.deps)
            await uow.commit()


async def as_batch(svc: Service, events: Sequence[Any]) -> Statements:
    """The events as one consumed batch through the set-based handler; the statements it sent."""
    engine = svc.container.runtime.engine
    with counting(engine) as seen:
        async with svc.container.runtime.uow() as uow:
            if isinstance(events[0], OutreachRequested):
                await set_based.on_outreach_requested_many(events, uow, svc.container.deps)
            else:
                await set_based.on_status_many(events, uow, svc.container.deps)
            await uow.commit()
    return seen


async def roster(svc: Service) -> None:
    """Five supporters who differ in site, profession, experience, training and shifts."""
    trained = {"group_facilitation": True, "mental_health_credentials": True}
    await register(svc, "S-1")
    await register(svc, "S-2", site="NORTH", years_experience=30)
    await register(svc, "S-3", profession="rt", training=trained)
    await register(svc, "S-4", profession="social_work", training=trained, site="NORTH")
    await register(svc, "S-5", languages=["fr"], seniority_level=6)
    shift = {
        "staff_id": "S-3",
        "start": (NOW - timedelta(hours=2)).isoformat(),
        "end": (NOW + timedelta(hours=6)).isoformat(),
    }
    assert (await svc.client.post("/v1/shifts", json=[shift])).status_code == 200


def scenario(svc: Service) -> tuple[list[OutreachRequested], list[OutreachRequested]]:
    """Cases stored before the batch, then a batch: repeats, escalations, continuity, a group case, the cap
    reached within the batch, a retry, an earlier month."""

    def naming(who: StaffRef, case_id: uuid.UUID, **over: Any) -> OutreachRequested:
        return request(svc, ["X"], case_id, **over).model_copy(update={"people": (who,)})

    stored_a, stored_b, rotated = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    old_name = StaffRef(pseudonym="ps_previous_key_e7", key_id="k0", role="rn")
    before = [
        request(svc, ["E-1"], stored_a),
        request(svc, ["E-2"], stored_b, urgency="within_days"),
        naming(old_name, rotated),  # stored under a previous key's pseudonym
    ]

    new_name = StaffRef(pseudonym=svc.ref("E-7"), key_id="k1", role="rn", aliases=(old_name.pseudonym,))
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    minute = timedelta(minutes=1)
    batch = [
        request(svc, ["E-1"], requested_at=NOW),  # a new case for E-1: continuity
        request(svc, ["E-5", "E-6"], b, mode="group", tier=3, requested_at=NOW + minute),
        request(svc, ["E-3"], a, requested_at=NOW + 2 * minute),
        request(svc, ["E-3"], a, report_version=2, requested_at=NOW + 3 * minute),  # ignored repeat
        request(svc, ["E-2"], stored_b, urgency="immediate", requested_at=NOW + 4 * minute),  # stored: escalated
        request(svc, ["E-1", "E-4"], stored_a, requested_at=NOW + 5 * minute),  # stored: new person
        request(svc, ["E-3"], a, urgency="immediate", requested_at=NOW + 7 * minute),  # the batch's case again
        naming(new_name, rotated, urgency="immediate", requested_at=NOW + 19 * minute),
        naming(new_name, uuid.uuid4(), requested_at=NOW + 19 * minute),  # continuity under the old name
        *(request(svc, [f"E-{10 + i}"], requested_at=NOW + (8 + i) * minute) for i in range(10)),  # up to the cap
        request(svc, ["E-30"], c, requested_at=NOW + 20 * minute),  # nobody left under the cap
        request(svc, ["E-30"], c, requested_at=NOW + 21 * minute),  # retried: still nobody, no second alert
        request(svc, ["E-31"], requested_at=NOW - timedelta(days=40)),  # last month: its own cap
    ]
    return before, batch


async def stored_state(svc: Service) -> dict[str, Any]:
    """Every row and outbox event, assignment ids numbered in the order they were published."""
    async with svc.container.runtime.session() as s:
        out = [
            (t, json.loads(p))
            for t, p in (await s.execute(select(outbox.c.topic, outbox.c.payload).order_by(outbox.c.id)))
        ]
        tables = {
            t.name: [dict(r._mapping) for r in await s.execute(select(t))]
            for t in (cases, assignments, members, supported, workload_months, workload_days)
        }
    ids: dict[str, str] = {}
    for _, msg in out:
        if "assignment_id" in msg:
            ids.setdefault(msg["assignment_id"], f"A{len(ids)}")
        for key in ("event_id", "produced_at"):
            msg.pop(key, None)

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return ids.get(value, value) if isinstance(value, str) else value

    rows = {name: sorted((norm(r) for r in found), key=repr) for name, found in tables.items()}
    return {"outbox": [(t, norm(m)) for t, m in out], **rows}


async def test_a_batch_decides_what_one_at_a_time_decides(pg_url: str, other_pg_url: str) -> None:
    async with service_on(pg_url, monthly_cap=3) as single, service_on(other_pg_url, monthly_cap=3) as batched:
        for svc in (single, batched):
            await roster(svc)
        before, batch = scenario(single)
        await one_at_a_time(single, before)
        await one_at_a_time(batched, before)
        await one_at_a_time(single, batch)
        await as_batch(batched, batch)
        expected, got = await stored_state(single), await stored_state(batched)
        matched = [m for t, m in expected["outbox"] if t == topics.SUPPORTER_MATCHED]
        # The scenario covers what it means to: the cap ran out in the batch, a retry stayed quiet, continuity.
        unmatched = [m["case_id"] for t, m in expected["outbox"] if t == topics.SUPPORTER_UNMATCHED]
        assert unmatched.count(str(batch[-3].case_id)) == 1 and len(matched) > 10
        by_case = {m["case_id"]: m for m in matched}
        assert "already supporting this person" in by_case[str(batch[8].case_id)]["primary"]["reasons"]
        assert by_case[str(batch[7].case_id)]["supported"] == [single.ref("E-7")]  # renamed from the old key
        assert any("already on this case" in m["primary"]["reasons"] for m in matched)
        assert any(m["supersedes"] for m in matched) and any(m["co_facilitators"] for m in matched)
        assert got == expected
        views = [(await s.client.get("/v1/supporters")).json() for s in (single, batched)]
        assert views[0] == views[1]


async def test_statuses_as_a_batch_do_what_one_at_a_time_does(pg_url: str, other_pg_url: str) -> None:
    async with service_on(pg_url) as single, service_on(other_pg_url) as batched:
        for svc in (single, batched):
            await roster(svc)
        before, _ = scenario(single)
        more = [request(single, [f"E-{40 + i}"]) for i in range(3)]
        for svc in (single, batched):
            await one_at_a_time(svc, [*before, *more])
        unknown = uuid.uuid4()

        async def statuses(svc: Service) -> list[OutreachStatusChanged]:  # each names its own assignment ids
            matched = [m for t, m in await published(svc) if t == topics.SUPPORTER_MATCHED]
            first, second, third = matched[2:5]
            return [
                acknowledged(first, first["backups"][0]["supporter_ref"]),
                acknowledged(first, first["backups"][0]["supporter_ref"]),  # again: already on the team
                acknowledged(second, first["primary"]["supporter_ref"], assignment_id=unknown),  # not this case's
                closed(second),
                acknowledged(second, second["backups"][0]["supporter_ref"]),  # a closed case's backup still counts
                closed(third),
                closed(third),
                closed({**third, "case_id": str(unknown)}),  # unknown case
            ]

        await one_at_a_time(single, await statuses(single))
        await as_batch(batched, await statuses(batched))
        expected = await stored_state(single)
        assert [m["role"] for m in expected["assignment_members"]].count("backup") == 2
        assert len([c for c in expected["cases"] if c["closed_at"]]) == 2
        assert await stored_state(batched) == expected
        views = [(await s.client.get("/v1/supporters")).json() for s in (single, batched)]
        assert views[0] == views[1]


def closed(matched: dict[str, Any]) -> OutreachStatusChanged:
    """The outreach of ``matched`` closed."""
    ref = matched["primary"]["supporter_ref"]
    return acknowledged(matched, ref, status=OutreachStatus.CLOSED, occurred_at=NOW + timedelta(days=2))


async def test_a_batch_costs_the_same_statements_whatever_its_size(pg_url: str) -> None:
    async with service_on(pg_url, monthly_cap=100) as svc:
        await roster(svc)

        def fresh(n: int) -> list[OutreachRequested]:
            return [request(svc, [f"E-{uuid.uuid4().hex[:8]}"]) for _ in range(n)]

        one, thirty = await as_batch(svc, fresh(1)), await as_batch(svc, fresh(30))
        assert len(one) == len(thirty) and one.kinds() == thirty.kinds()
        stored = [uuid.UUID(m["case_id"]) for _, m in await published(svc)]

        def mixed(escalated: list[uuid.UUID]) -> list[OutreachRequested]:  # stored cases re-matched, new cases
            return [*(request(svc, ["E-X"], c, urgency="immediate") for c in escalated), *fresh(len(escalated))]

        one, fifteen = await as_batch(svc, mixed(stored[:1])), await as_batch(svc, mixed(stored[1:16]))
        assert len(one) == len(fifteen) and one.kinds() == fifteen.kinds()
        assert one.kinds()["UPDATE assignments"] == 1 and one.kinds()["UPDATE cases"] == 1
        matched = [m for t, m in await published(svc) if t == topics.SUPPORTER_MATCHED][-30:]

        def statuses(ms: list[dict[str, Any]]) -> list[OutreachStatusChanged]:
            return [e for m in ms for e in (acknowledged(m, m["backups"][0]["supporter_ref"]), closed(m))]

        one, ten = await as_batch(svc, statuses(matched[:1])), await as_batch(svc, statuses(matched[1:11]))
        assert len(one) == len(ten) and one.kinds() == ten.kinds()
