"""Helpers of the notification tests: an app on SQLite with a fake clock and recording channels."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from psp_common import topics
from psp_common.clock import ManualClock
from psp_common.events.matching import Candidate, SupporterMatched
from psp_common.migrations import upgrade_async
from psp_notification.adapters.channels import PageMessage, TransportError
from psp_notification.adapters.orm import outbox, pages
from psp_notification.bootstrap import MIGRATIONS, Container, build
from psp_notification.settings import NotificationSettings
from tests.support import client_for

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


@dataclass
class FakeChannel:
    """Records what it delivers; fails for addresses in ``failing``; raises ``crash`` once if set."""

    kind: str = "console"
    failing: set[str] = field(default_factory=set)
    crash: BaseException | None = None
    sent: list[tuple[PageMessage, str]] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)

    async def notify(self, message: PageMessage, address: str) -> None:
        self.attempts.append(message.idempotency_key)
        if self.crash is not None:
            exc, self.crash = self.crash, None
            raise exc
        if address in self.failing or "*" in self.failing:
            raise TransportError("refused")
        self.sent.append((message, address))

    def to(self, ref: str) -> list[PageMessage]:
        return [m for m, _ in self.sent if m.recipient_ref == ref]


@dataclass
class Env:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock
    console: FakeChannel
    webhook: FakeChannel

    @property
    def c(self) -> Container:
        container: Container = self.app.state.container
        return container

    async def tick(self, **advance: float) -> int:
        if advance:
            self.clock.advance(**advance)
        return await self.c.dispatcher.tick()

    async def pages(self) -> list[dict[str, Any]]:
        async with self.c.runtime.session() as s:
            return [dict(r._mapping) for r in (await s.execute(select(pages).order_by(pages.c.id))).all()]

    async def published(self, topic: str = topics.OUTREACH_STATUS) -> list[dict[str, Any]]:
        async with self.c.runtime.session() as s:
            rows = (await s.execute(select(outbox).where(outbox.c.topic == topic).order_by(outbox.c.id))).all()
        return [json.loads(r.payload) for r in rows]

    async def statuses(self) -> list[tuple[str, str | None]]:
        return [(e["status"], e["supporter_ref"]) for e in await self.published()]

    async def handle(self, handler: Any, event: Any, *args: Any) -> None:
        async with self.c.runtime.uow() as uow:
            await uow.claim(str(event.event_id), "test")
            await handler([event], uow, *args)  # a single event is a batch of one, as the services take it
            await uow.commit()


@asynccontextmanager
async def app_env(sqlite_url: str, **overrides: Any) -> AsyncIterator[Env]:
    """The real app wired with a fake clock and fake channels; migrated; no broker started."""
    settings = NotificationSettings(database_url=sqlite_url, public_base_url="http://psp.test", **overrides)
    clock = ManualClock(T0)
    console, webhook = FakeChannel("console"), FakeChannel("webhook")
    app = build(settings, clock=clock, channels=[console, webhook])
    await upgrade_async(MIGRATIONS, sqlite_url)
    async with client_for(app, base_url="http://psp.test") as client:
        try:
            yield Env(app, client, clock, console, webhook)
        finally:
            await app.state.container.runtime.engine.dispose()


def matched(
    primary: str = "ps_primary", backups: tuple[str, ...] = ("ps_backup1", "ps_backup2"), **over: Any
) -> SupporterMatched:
    """A SupporterMatched event."""
    values: dict[str, Any] = {
        "occurred_at": T0,
        "correlation_id": uuid.uuid4(),
        "assignment_id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "facility": "GEN",
        "unit": "ICU",
        "supported": ("ps_colleague",),
        "primary": Candidate(supporter_ref=primary, score=1.0),
        "backups": tuple(Candidate(supporter_ref=b, score=0.5) for b in backups),
        "urgency": "within_hours",
        "mode": "individual",
        "tier": 2,
    }
    values.update(over)
    return SupporterMatched(**values)


def path_of(url: str) -> str:
    """Path of a page link (the app is reached through the ASGI transport)."""
    return url.replace("http://psp.test", "")
