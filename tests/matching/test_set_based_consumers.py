"""Matching's consumers hand a batch to the set-based handlers (duplicates skipped), one event too when batching
is off (a batch of one), and two instances deciding batches at once still keep the monthly cap (PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from psp_common import topics
from psp_common.kafka import subscribe_events
from psp_matching import set_based
from psp_matching.entrypoints import consumers
from tests.common.test_inbox_batch import FakeBroker, Msg, Raw
from tests.matching.conftest import Service, service_on
from tests.matching.test_backup_acknowledged import acknowledged
from tests.matching.test_handlers import published, register, request
from tests.support import Rendezvous

pytestmark = [pytest.mark.postgres]


def wired(svc: Service, monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeBroker]:
    """Matching's subscriptions, each on a fake broker that hands us its consume function."""
    brokers: dict[str, FakeBroker] = {}

    def capture(_broker: Any, **kwargs: Any) -> Any:
        fake = brokers[kwargs["topic"]] = FakeBroker()
        return subscribe_events(fake, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(consumers, "subscribe_events", capture)
    consumers.register(svc.container)
    return brokers


def records(*events: Any) -> Msg:
    """One consumed batch of these events."""
    return Msg([Raw(e.model_dump_json().encode(), offset) for offset, e in enumerate(events)])


def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch handed to the set-based decision from now on (it still decides them)."""
    sizes: list[int] = []
    decide_many = set_based.on_outreach_requested_many

    async def spy(events: Any, uow: Any, deps: Any) -> None:
        sizes.append(len(events))
        await decide_many(events, uow, deps)

    monkeypatch.setattr(set_based, "on_outreach_requested_many", spy)
    return sizes


async def test_the_consumers_decide_a_batch_at_once_and_skip_duplicates(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with service_on(pg_url, kafka_batch_max=50) as svc:
        await register(svc, "S-1")
        await register(svc, "S-2")
        brokers = wired(svc, monkeypatch)
        batches = batch_sizes(monkeypatch)
        consume = brokers[topics.OUTREACH_REQUESTED].consume
        assert consume is not None
        a, b = request(svc, ["E-1"]), request(svc, ["E-2"])
        await consume(records(a, a, b))  # the same event twice in one batch
        await consume(records(b, a))  # redelivered: both handled already
        out = [m["case_id"] for _, m in await published(svc)]
        assert batches == [2] and out == [str(a.case_id), str(b.case_id)]
        _, matched = (await published(svc))[0]
        ack = acknowledged(matched, matched["backups"][0]["supporter_ref"])
        on_status = brokers[topics.OUTREACH_STATUS].consume
        assert on_status is not None
        await on_status(records(ack, ack))
        views = {s["staff_id"]: s["assignments_this_month"] for s in (await svc.client.get("/v1/supporters")).json()}
        assert sorted(views.values()) == [1, 2]  # each primary of one case; one also the backup who acknowledged


async def test_with_batching_off_each_event_is_decided_set_based_as_a_batch_of_one(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with service_on(pg_url, kafka_batch_max=1) as svc:
        await register(svc, "S-1")
        brokers = wired(svc, monkeypatch)
        batches = batch_sizes(monkeypatch)
        consume = brokers[topics.OUTREACH_REQUESTED].consume
        assert consume is not None
        a, b = request(svc, ["E-1"]), request(svc, ["E-2"])
        for event in (a, a, b):  # a redelivered: skipped by the inbox
            await consume(records(event))
        out = [m["case_id"] for _, m in await published(svc)]
    assert batches == [1, 1] and out == [str(a.case_id), str(b.case_id)]


async def test_two_instances_deciding_batches_at_once_keep_the_monthly_cap(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with service_on(pg_url) as one, service_on(pg_url) as two:  # two instances, one database
        await register(one, "S-1")
        await register(one, "S-3", site="NORTH")
        await handle_batch(one, [request(one, ["E-0"])])  # S-1 (same site): one slot left (cap 2)
        meet = Rendezvous(2)
        read = set_based.read_snapshot

        async def overlapping(*args: Any, **kwargs: Any) -> Any:
            snap = await read(*args, **kwargs)
            await meet.wait()  # both batches have read S-1's workload before either commits
            return snap

        monkeypatch.setattr(set_based, "read_snapshot", overlapping)
        first, second = request(one, ["E-1"]), request(two, ["E-2"])
        await asyncio.gather(handle_batch(one, [first]), handle_batch(two, [second]))
        assert meet.arrived == 2
        supporters = {s["staff_id"]: s for s in (await one.client.get("/v1/supporters")).json()}
        latest = {m["case_id"]: m["primary"]["supporter_ref"] for _, m in await published(one)}
    assert supporters["S-1"]["assignments_this_month"] == 2  # 3 had each batch kept what it decided first
    assert sorted([latest[str(first.case_id)], latest[str(second.case_id)]]) == sorted([one.ref("S-1"), one.ref("S-3")])


async def handle_batch(svc: Service, events: list[Any]) -> None:
    async with svc.container.runtime.uow() as uow:
        await uow.claim_many([str(e.event_id) for e in events], topics.OUTREACH_REQUESTED)
        await set_based.on_outreach_requested_many(events, uow, svc.container.deps)
        await uow.commit()
