"""/metrics on every service: Prometheus text, moving consumer metrics, outbox and clock gauges, safe labels."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, insert, select

from psp_common.clock import ManualClock
from psp_common.db import UnitOfWork, make_engine, messaging_tables, new_metadata
from psp_common.events.envelope import Envelope
from psp_common.kafka import DeadLetters, subscribe_events
from psp_common.metrics import Metrics
from psp_common.migrations import upgrade_async
from psp_common.settings import ServiceSettings
from psp_notification import consumed
from psp_notification.adapters.orm import audit_log
from tests.clock import TEST_NOW
from tests.notification.support import Env, app_env, matched
from tests.support import one_by_one

Families = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse(text: str) -> Families:
    """Samples by name and sorted labels (the parser raises on anything that is not the text format)."""
    out: Families = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation.strip(), f"{family.name} has no HELP text"
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(families: Families, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for key, v in families.get(name, {}).items() if set(labels.items()) <= set(key))


PSEUDONYM = re.compile(r"ps_[A-Za-z0-9_-]+")
UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
STAFF_ID = re.compile(r"\d{5,}|[A-Za-z]+\d{3,}")


def identifying(families: Families) -> list[str]:
    """Label values (not ``le``/``quantile`` bounds) that look like a pseudonym, uuid or staff id."""
    bad = []
    for samples in families.values():
        for key in samples:
            for name, v in key:
                if name in {"le", "quantile"}:
                    continue
                if PSEUDONYM.search(v) or UUID.search(v) or STAFF_ID.fullmatch(v):
                    bad.append(f"{name}={v}")
    return bad


async def scrape(app: FastAPI) -> Families:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def _service_apps(sqlite_url: str) -> list[tuple[str, Callable[[], FastAPI], Path]]:
    from psp_listener import bootstrap as listener
    from psp_listener.settings import ListenerSettings
    from psp_matching import bootstrap as matching
    from psp_matching.settings import MatchingSettings
    from psp_rules import bootstrap as rules
    from psp_rules.settings import RulesSettings

    return [
        ("listener", lambda: listener.build(ListenerSettings(database_url=sqlite_url)), listener.MIGRATIONS),
        ("rules", lambda: rules.build(RulesSettings(database_url=sqlite_url)), rules.MIGRATIONS),
        ("matching", lambda: matching.build(MatchingSettings(database_url=sqlite_url)), matching.MIGRATIONS),
    ]


@pytest.mark.parametrize("service", ["listener", "rules", "matching"])
async def test_each_service_answers_prometheus_text_with_outbox_gauges(service: str, sqlite_url: str) -> None:
    name, factory, migrations = next(s for s in _service_apps(sqlite_url) if s[0] == service)
    await upgrade_async(migrations, sqlite_url)
    app = factory()
    runtime = app.state.runtime
    try:
        empty = await scrape(app)
        assert value(empty, "psp_outbox_backlog_rows", service=name) == 0
        async with runtime.engine.begin() as conn:
            for i in range(3):
                at = TEST_NOW - timedelta(minutes=i)
                await conn.execute(
                    insert(runtime.outbox).values(
                        event_id=str(uuid4()), topic="t", key="k", payload=b"{}", headers={}, created_at=at, attempts=0
                    )
                )
        families = await scrape(app)
    finally:
        await runtime.engine.dispose()
    assert value(families, "psp_outbox_backlog_rows", service=name) == 3
    assert value(families, "psp_outbox_oldest_age_seconds", service=name) >= 120  # the wall clock is past TEST_NOW
    assert not identifying(families)


async def test_outbox_age_uses_the_injected_clock(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    metadata = new_metadata()
    _, outbox = messaging_tables(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            insert(outbox).values(event_id="e", topic="t", key="k", payload=b"{}", headers={}, created_at=TEST_NOW)
        )
    metrics = Metrics("svc")
    metrics.watch_outbox(engine, outbox, ManualClock(TEST_NOW + timedelta(seconds=90)))
    try:
        families = parse((await metrics.render()).decode())
    finally:
        await engine.dispose()
    assert value(families, "psp_outbox_backlog_rows") == 1
    assert value(families, "psp_outbox_oldest_age_seconds") == 90


async def test_console_answers_metrics(tmp_path: Path) -> None:
    from psp_console.bootstrap import build
    from tests.console.conftest import console_settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'console.db'}"
    app = build(console_settings(url, 8099, "http://127.0.0.1:9"))
    families = await scrape(app)
    assert "python_gc_objects_collected_total" not in families  # its own registry, not the process-wide one
    assert not identifying(families)


class Ping(Envelope):
    """A test event."""


@dataclass
class Raw:
    value: bytes
    offset: int
    topic: str = "t"
    partition: int = 0
    key: bytes | None = b"k"


class Consumer:
    """The high watermark aiokafka remembers from its last fetch."""

    def highwater(self, tp: Any) -> int:
        return 10


@dataclass
class Msg:
    raw_message: Any
    consumer: Any = None


class FakeBroker:
    """Captures the subscribed function; records published dead letters."""

    def __init__(self) -> None:
        self.consume: Callable[..., Any] | None = None
        self.published: list[bytes] = []

    def subscriber(self, *_a: Any, **_kw: Any) -> Callable[[Callable[..., Any]], Any]:
        def register(fn: Callable[..., Any]) -> Any:
            self.consume = fn
            return fn

        return register

    async def publish(self, body: bytes, *_a: Any, **_kw: Any) -> None:
        self.published.append(body)


@pytest.fixture
async def uow_factory(sqlite_url: str) -> AsyncIterator[Callable[[], UnitOfWork]]:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    engine = make_engine(sqlite_url)
    metadata = new_metadata()
    inbox, outbox = messaging_tables(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    yield lambda: UnitOfWork(factory, inbox, outbox)
    await engine.dispose()


def ping() -> bytes:
    return Ping(event_id=uuid4(), occurred_at=TEST_NOW, correlation_id=uuid4()).model_dump_json().encode()


async def test_batch_latency_lag_and_dead_letters_by_reason_class(uow_factory: Callable[[], UnitOfWork]) -> None:
    broker, metrics = FakeBroker(), Metrics("rules")
    dead = DeadLetters(broker, "rules", metrics=metrics)  # type: ignore[arg-type]

    async def handler(e: Ping, uow: UnitOfWork) -> None:
        if e.correlation_id == poison_id:
            raise ValueError("cannot handle")

    poison_id = uuid4()
    subscribe_events(
        broker,  # type: ignore[arg-type]
        topic="t",
        group_id="g",
        model=Ping,
        handler_many=one_by_one(handler),
        uow_factory=uow_factory,
        settings=ServiceSettings(kafka_batch_max=50, max_attempts=1),
        dead_letters=dead,
    )
    assert broker.consume is not None
    before = parse((await metrics.render()).decode())
    assert value(before, "psp_consumer_batch_size_count") == 0

    await broker.consume(Msg([Raw(ping(), 4), Raw(ping(), 5), Raw(b"not json", 6)], Consumer()))
    poison = Ping(event_id=uuid4(), occurred_at=TEST_NOW, correlation_id=poison_id).model_dump_json().encode()
    await broker.consume(Msg([Raw(poison, 7)], Consumer()))
    families = parse((await metrics.render()).decode())

    assert value(families, "psp_consumer_batch_size_count", topic="t", group="g") == 2
    assert value(families, "psp_consumer_batch_size_sum", topic="t", group="g") == 4
    assert value(families, "psp_consumer_handler_seconds_count", topic="t", group="g") == 2
    assert value(families, "psp_consumer_lag", topic="t", group="g", partition="0") == 2  # highwater 10 - next 8
    assert value(families, "psp_dead_letters_total", reason="validation") == 1
    assert value(families, "psp_dead_letters_total", reason="handler") == 1
    assert len(broker.published) == 2
    assert not identifying(families)


async def test_notification_pages_and_clocks_and_no_audit_row(sqlite_url: str) -> None:
    async with app_env(sqlite_url) as env:
        families = await _scrape_env(env)
        assert value(families, "psp_acks_overdue") == 0
        event = matched()
        await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
        await env.tick()  # the primary is paged at T0
        env.clock.advance(minutes=31)  # past the 30-minute ack window, before the dispatcher looks again
        families = await _scrape_env(env)
        assert value(families, "psp_pages_total", channel="console", outcome="sent") == 1
        assert value(families, "psp_acks_overdue") == 1
        assert value(families, "psp_contacts_overdue") == 0
        env.clock.advance(hours=13)  # past the 12-hour contact deadline
        families = await _scrape_env(env)
        assert value(families, "psp_contacts_overdue") == 1
        assert value(families, "psp_unmatched_cases_open") == 0
        assert not identifying(families)
        assert str(event.case_id) not in str(families) and "ps_primary" not in str(families)

        await env.client.get("/v1/board")  # an API call is audited (the check below can fail)
        async with env.c.runtime.session() as s:
            resources = list((await s.execute(select(audit_log.c.resource))).scalars())
            count = (await s.execute(select(func.count()).select_from(audit_log))).scalar_one()
    assert count >= 1 and any(r.startswith("/v1/board") for r in resources)
    assert not any(r.startswith("/metrics") for r in resources)


async def _scrape_env(env: Env) -> Families:
    r = await env.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def test_identifying_scan_catches_pseudonyms_uuids_and_staff_ids() -> None:
    assert identifying({"m": {(("service", "rules"), ("topic", "psp.cases")): 1}}) == []
    assert identifying({"m": {(("channel", "ps_abc123"),): 1}})
    assert identifying({"m": {(("topic", str(uuid4())),): 1}})
    assert identifying({"m": {(("group", "E123456"),): 1}})
