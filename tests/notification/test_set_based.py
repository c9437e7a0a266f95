"""Consumed batches are handled set-based (PostgreSQL): as many statements for thirty events as for one, and the
same rows and outbox events as handling the batch's events one after another, through the real subscribers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import select

from psp_common import topics
from psp_common.events.matching import Candidate, SupporterMatched, SupporterUnmatched
from psp_common.events.outreach import OutreachRequested
from psp_common.events.referral import ReferralFacts, ReferralKind, ReferralPolicy
from psp_notification.adapters.orm import assignments, cases, contacts, inbox, outbox, pages, status_log
from psp_notification.adapters.repository import Repository
from psp_notification.entrypoints import consumers
from tests.notification.support import T0, Env, app_env, matched
from tests.notification.test_feeds import requested
from tests.statements import counting
from tests.support import fresh_database

pytestmark = pytest.mark.postgres
OFFER = ReferralFacts(kind=ReferralKind.COLLEAGUE, policy=ReferralPolicy.REACH_OUT, offer=True)


@dataclass
class Raw:
    value: bytes
    offset: int
    topic: str
    partition: int = 0
    key: bytes | None = b"k"


@dataclass
class Msg:
    raw_message: Any


class Subscribers:
    """The service's subscribers as ``consumers.register`` wires them, fed batches of records like the broker."""

    def __init__(self, env: Env) -> None:
        self.consume: dict[str, Callable[..., Any]] = {}
        rt = env.c.runtime
        broker, rt.broker = rt.broker, self  # type: ignore[assignment]
        try:
            consumers.register(env.c)
        finally:
            rt.broker = broker

    def subscriber(self, topic: str, *_a: Any, **_kw: Any) -> Callable[[Callable[..., Any]], Any]:
        def register(fn: Callable[..., Any]) -> Any:
            self.consume[topic] = fn
            return fn

        return register

    async def feed(self, topic: str, events: list[BaseModel]) -> None:
        records = [Raw(e.model_dump_json().encode(), i, topic) for i, e in enumerate(events)]
        await self.consume[topic](Msg(records))


@pytest.fixture
async def other_pg_url(pg_admin_dsn: str) -> AsyncIterator[str]:
    async with fresh_database(pg_admin_dsn) as (_, url):
        yield url


def unmatched(case_id: uuid.UUID | None = None, **over: Any) -> SupporterUnmatched:
    values: dict[str, Any] = {
        "occurred_at": T0,
        "correlation_id": uuid.uuid4(),
        "case_id": case_id or uuid.uuid4(),
        "facility": "GEN",
        "unit": "ICU",
        "supported": ("ps_colleague",),
        "urgency": "within_hours",
        "mode": "individual",
        "reasons": ("nobody on shift",),
    }
    return SupporterUnmatched(**{**values, **over})


def rotated(name: str) -> SupporterMatched:
    """A match whose primary's channels are stored only under their pseudonym of an older key."""
    event = matched(primary=name, backups=())
    return SupporterMatched(
        **{**event.model_dump(), "primary": Candidate(supporter_ref=name, score=1, aliases=(f"old_{name}",))}
    )


def again(event: SupporterMatched, **over: Any) -> SupporterMatched:
    """The same assignment (or case) published again under a new event id."""
    return SupporterMatched(**{**event.model_dump(), "event_id": uuid.uuid4(), **over})


async def store_old_contacts(env: Env, names: list[str]) -> None:
    async with env.c.runtime.uow() as uow:
        for name in names:
            channels = [{"kind": "webhook", "address": f"https://hooks.test/{name}"}]
            await Repository(uow.session).save_contact(f"old_{name}", "k0", channels, T0)
        await uow.commit()


def batch_of(topic: str, n: int, tag: str) -> list[BaseModel]:
    """``n`` events of ``topic``, two of them for one case (and, for matches, one assignment published twice)."""
    if topic == topics.SUPPORTER_MATCHED:
        out = [rotated(f"ps_{tag}{i}") for i in range(n)]
        if n > 2:
            out[1] = again(out[1], case_id=out[0].case_id, assignment_id=uuid.uuid4())
            out[2] = again(out[0])
        return list(out)
    if topic == topics.SUPPORTER_UNMATCHED:
        un = [unmatched() for _ in range(n)]
        return [un[0], *(unmatched(un[0].case_id) for _ in un[1:2]), *un[2:]] if n > 2 else list(un)
    req = [requested(T0) for _ in range(n)]
    if n > 2:
        req[1] = OutreachRequested(**{**req[1].model_dump(), "case_id": req[0].case_id, "unit": "ED"})
    return list(req)


@pytest.mark.parametrize("topic", [topics.SUPPORTER_MATCHED, topics.SUPPORTER_UNMATCHED, topics.OUTREACH_REQUESTED])
async def test_thirty_events_take_the_statements_of_one(pg_url: str, topic: str) -> None:
    async with app_env(pg_url) as env:
        subs = Subscribers(env)
        one, thirty = batch_of(topic, 1, "a"), batch_of(topic, 30, "b")
        await store_old_contacts(env, [f"ps_a{i}" for i in range(1)] + [f"ps_b{i}" for i in range(30)])
        with counting(env.c.runtime.engine) as single:
            await subs.feed(topic, one)
        with counting(env.c.runtime.engine) as batch:
            await subs.feed(topic, thirty)
        assert batch.kinds() == single.kinds(), (single.seen, batch.seen)
        assert len(batch) == len(single) <= 10
        # The same statement texts too (no IN list whose length follows the batch's: each length is a new
        # statement for the server to prepare).
        assert batch.seen == single.seen, (single.seen, batch.seen)
        statuses = 30 if topic == topics.SUPPORTER_MATCHED else 31  # a repeated assignment publishes nothing
        assert len(await published(env)) == statuses


async def test_requests_of_both_shapes_take_one_statement_more(pg_url: str) -> None:
    async with app_env(pg_url) as env:
        subs = Subscribers(env)
        plain = batch_of(topics.OUTREACH_REQUESTED, 10, "a")
        referral = OutreachRequested(**{**requested(T0).model_dump(), "referral": OFFER})
        with counting(env.c.runtime.engine) as single:
            await subs.feed(topics.OUTREACH_REQUESTED, plain[:1])
        with counting(env.c.runtime.engine) as mixed:
            await subs.feed(topics.OUTREACH_REQUESTED, [*plain[1:], referral])
        assert mixed.kinds()["INSERT cases"] == 2 and len(mixed) == len(single) + 1


def scenario() -> list[tuple[str, list[BaseModel]]]:
    """Batches touching the same cases from every side: repeated assignments, requests after matches, duplicates."""
    first = rotated("ps_ann")
    second = again(first, assignment_id=uuid.uuid4(), correlation_id=uuid.uuid4())  # same case, another match
    other = rotated("ps_bob")
    matches: list[BaseModel] = [first, second, again(first), other, other]  # the last: the same event twice
    opened = OutreachRequested(**{**requested(T0).model_dump(), "case_id": first.case_id, "referral": OFFER})
    update = OutreachRequested(**{**requested(T0).model_dump(), "case_id": first.case_id, "unit": "ED"})
    fresh = requested(T0)
    later = OutreachRequested(**{**requested(T0).model_dump(), "case_id": fresh.case_id, "referral": OFFER})
    nobody = unmatched()
    unmatches: list[BaseModel] = [nobody, unmatched(nobody.case_id), unmatched(other.case_id)]
    return [
        (topics.SUPPORTER_MATCHED, matches),
        (topics.OUTREACH_REQUESTED, [opened, update, fresh, later, fresh]),
        (topics.SUPPORTER_UNMATCHED, unmatches),
        (topics.SUPPORTER_MATCHED, [again(first), rotated("ps_cy")]),  # redelivered and new, after the rest
    ]


async def test_a_batch_leaves_what_its_events_one_at_a_time_leave(pg_url: str, other_pg_url: str) -> None:
    steps = scenario()
    async with app_env(pg_url) as batched, app_env(other_pg_url) as single:
        for env in (batched, single):
            await store_old_contacts(env, ["ps_ann", "ps_bob"])
        by_batch, one_by_one = Subscribers(batched), Subscribers(single)
        for topic, events in steps:
            await by_batch.feed(topic, events)
            for e in events:
                await one_by_one.feed(topic, [e])
        got = await snapshot(batched)
        assert got == await snapshot(single)
    case_rows = {r["case_id"]: r for r in got["cases"]}
    first, second = steps[0][1][0], steps[0][1][1]
    assert isinstance(first, SupporterMatched) and isinstance(second, SupporterMatched)
    ann = case_rows[str(first.case_id)]
    assert ann["correlation_id"] == str(first.correlation_id) and ann["unit"] == "ED" and ann["offer"] == "offered"
    assert ann["status"] == "assigned" and ann["flagged"]
    two = [a for a in got["assignments"] if a["case_id"] == str(first.case_id)]
    assert {a["correlation_id"] for a in two} == {str(first.correlation_id)} and len(two) == 2  # once each
    unmatched_pages = [p for p in got["pages"] if p["purpose"] == "unmatched"]
    assert len(unmatched_pages) == 2  # one per case, though one case was reported unmatched twice
    assert {c["staff_ref"] for c in got["contacts"]} >= {"ps_ann", "ps_bob"}  # copied from the older pseudonyms


async def published(env: Env) -> list[dict[str, Any]]:
    return (await snapshot(env))["outbox"]


async def snapshot(env: Env) -> dict[str, list[dict[str, Any]]]:
    """Every row the handlers write, without database ids, random event ids and wall-clock times (production)."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with env.c.runtime.session() as s:
        for name, table, order, drop in (
            ("cases", cases, cases.c.case_id, ()),
            ("assignments", assignments, assignments.c.assignment_id, ()),
            ("pages", pages, pages.c.id, ("id",)),
            ("status_log", status_log, status_log.c.id, ("id", "event_id")),
            ("contacts", contacts, contacts.c.staff_ref, ()),
            ("outbox", outbox, outbox.c.id, ("id", "event_id", "created_at")),
            ("inbox", inbox, inbox.c.event_id, ("received_at",)),
        ):
            rows = [dict(r._mapping) for r in (await s.execute(select(table).order_by(order))).all()]
            out[name] = [{k: v for k, v in r.items() if k not in drop} for r in rows]
    for row in out["outbox"]:
        payload = json.loads(row["payload"])
        del payload["event_id"], payload["produced_at"]
        row["payload"] = payload
    return out
