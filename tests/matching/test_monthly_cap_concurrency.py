"""Two matching instances and a coordinator re-match, concurrently on PostgreSQL, never give a supporter more
cases in a month than the cap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from psp_common import topics
from psp_matching import handlers, set_based
from tests.matching.conftest import Service, service_on
from tests.matching.test_handlers import published, register, request
from tests.support import Rendezvous

pytestmark = [pytest.mark.postgres]


async def handle_on(svc: Service, event: Any) -> None:
    async with svc.container.runtime.uow() as uow:
        await uow.claim(str(event.event_id), topics.OUTREACH_REQUESTED)
        await set_based.on_outreach_requested_many([event], uow, svc.container.deps)
        await uow.commit()


async def test_two_instances_and_a_rematch_racing_for_the_last_slot_give_it_to_one(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with service_on(pg_url) as one, service_on(pg_url) as two:  # two instances, one database
        await register(one, "S-2", site="NORTH", years_experience=30)
        await register(one, "S-3", site="NORTH")
        earlier = request(one, ["E-0"])
        await handle_on(one, earlier)  # case 0 goes to S-2 (more experienced; S-1 not on the roster yet)
        [(_, zero)] = await published(one)
        assert zero["primary"]["supporter_ref"] == one.ref("S-2")
        await register(one, "S-1")  # same site: everyone's first choice from now on
        await handle_on(one, request(one, ["E-A"]))  # S-1: one case this month, one slot left (cap 2)
        paused = await one.client.post("/v1/supporters/S-2/pause")  # S-2 steps away: case 0 needs a re-match
        assert paused.status_code == 200
        meet = Rendezvous(3)
        read_workload, read_snapshot = handlers.gather_facts, set_based.read_snapshot

        async def overlapping(*args: Any, **kwargs: Any) -> Any:
            facts = await read_workload(*args, **kwargs)
            await meet.wait()  # all three have read S-1's workload before any of them commits
            return facts

        async def overlapping_snapshot(*args: Any, **kwargs: Any) -> Any:
            snap = await read_snapshot(*args, **kwargs)
            await meet.wait()
            return snap

        monkeypatch.setattr(handlers, "gather_facts", overlapping)  # the coordinator's re-match
        monkeypatch.setattr(set_based, "read_snapshot", overlapping_snapshot)  # the consumed events
        first, second = request(one, ["E-1"]), request(two, ["E-2"])
        _, _, rematched = await asyncio.gather(
            handle_on(one, first),
            handle_on(two, second),
            one.client.post(f"/v1/cases/{earlier.case_id}:rematch", json={}),
        )
        assert meet.arrived == 3
        assert rematched.status_code == 200, rematched.text
        supporters = {s["staff_id"]: s for s in (await one.client.get("/v1/supporters")).json()}
        out = [m for t, m in await published(one) if t == topics.SUPPORTER_MATCHED]
    assert supporters["S-1"]["assignments_this_month"] == 2  # 4 before the cap held across instances
    assert max(s["assignments_this_month"] for s in supporters.values()) <= 2
    racing = {str(earlier.case_id), str(first.case_id), str(second.case_id)}
    latest = {m["case_id"]: m["primary"]["supporter_ref"] for m in out if m["case_id"] in racing}
    assert len(latest) == 3  # all three matched
    assert sorted(latest.values()).count(one.ref("S-1")) == 1  # the last slot went to exactly one
    assert set(latest.values()) == {one.ref("S-1"), one.ref("S-3")}
