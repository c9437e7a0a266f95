"""The console with the four services behind it, each on real HTTP, all verifying the dev provider's tokens.

The services run their real apps (no broker: their lifespans only migrate, as in tests/api). Data is seeded
through their normal paths: the rules and notification event handlers (what their consumers call) and the
notification HTTP API with a dev-provider token (encounters).
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from psp_common.devrun import fetch_dev_token
from psp_common.events.intake import IncidentObserved
from psp_common.migrations import upgrade_async
from psp_common.stack import SERVICES
from psp_console.bootstrap import build as build_console
from psp_notification import consumed as notification_consumed
from psp_notification.adapters.orm import assignments
from psp_rules import handlers as rules_handlers
from tests.clock import PinnedClock
from tests.console.conftest import Site, console_settings, free_port, served
from tests.notification.support import matched
from tests.notification.test_feeds import requested
from tests.rules.helpers import observed


def service_app(service: str, url: str, issuer: str, clock: PinnedClock) -> FastAPI:
    """The service's real app verifying ``issuer``'s tokens; its lifespan only migrates (no broker)."""
    bootstrap = importlib.import_module(f"psp_{service}.bootstrap")
    mod = importlib.import_module(f"psp_{service}.settings")
    cls = next(getattr(mod, n) for n in dir(mod) if n.endswith("Settings") and n != "ServiceSettings")
    app: FastAPI = bootstrap.build(cls(env="dev", database_url=url, kafka_create_topics=False, auth_oidc_issuer=issuer))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await upgrade_async(bootstrap.MIGRATIONS, url)
        app.state.runtime.ready = True
        yield
        await app.state.runtime.engine.dispose()

    app.router.lifespan_context = lifespan
    # the provider issues tokens on the pinned test clock (tests/clock.py): the service checks their times on it too
    app.state.runtime.tokens.clock = clock.now
    return app


@dataclass
class Stack:
    """The console (``site``) and the services' apps behind it."""

    site: Site
    apps: dict[str, FastAPI]

    def container(self, service: str) -> Any:
        return self.apps[service].state.container

    async def token(self, *scopes: str) -> str:
        """A dev-provider token (client credentials), as a tool calling the APIs would use."""
        return await asyncio.to_thread(fetch_dev_token, self.site.idp, list(scopes), "seed")


@pytest.fixture
async def stack(tmp_path: Path, idp_url: str, pinned_clock: PinnedClock) -> AsyncIterator[Stack]:
    """The console and the four services on free ports (SQLite each), signed in through the dev provider."""
    async with AsyncExitStack() as exits:
        apps: dict[str, FastAPI] = {}
        urls: dict[str, str] = {}
        for service in SERVICES:
            apps[service] = service_app(service, f"sqlite+aiosqlite:///{tmp_path}/{service}.db", idp_url, pinned_clock)
            port = free_port()
            urls[f"{service}_url"] = await exits.enter_async_context(served(apps[service], port))
        port = free_port()
        console = build_console(console_settings(f"sqlite+aiosqlite:///{tmp_path}/console.db", port, idp_url, **urls))
        base = await exits.enter_async_context(served(console, port))
        yield Stack(Site(base, idp_url, console), apps)


async def decide(stack: Stack, at: datetime, **incident: Any) -> None:
    """The rules service decides one incident report at ``at`` (what its intake consumer does)."""
    c = stack.container("rules")
    ref, staff = f"ref_{uuid.uuid4().hex}", (f"E-{uuid.uuid4().hex[:6]}",)
    event: IncidentObserved = observed(ref, ids=staff, **{"occurred_at": at - timedelta(hours=1), **incident})
    async with c.runtime.uow() as uow:
        await rules_handlers.on_incidents([event], uow, c.config, at)
        await uow.commit()


async def _handle(c: Any, handler: Any, event: Any, *args: Any) -> None:
    async with c.runtime.uow() as uow:
        await uow.claim(str(event.event_id), "test")
        await handler([event], uow, *args)  # a single event is a batch of one, as the services take it
        await uow.commit()


async def open_case(stack: Stack, at: datetime, *, facility: str = "GEN", unit: str = "ICU") -> str:
    """A case requested and matched at ``at`` whose primary acknowledged (the consumers' handlers); its assignment."""
    c = stack.container("notification")
    req = requested(at, unit=unit, facility=facility)
    await _handle(c, notification_consumed.requested, req, at)
    ref = c.pseudo.pseudonym(f"S-{uuid.uuid4().hex[:6]}")
    m = matched(primary=ref, case_id=req.case_id, correlation_id=req.correlation_id, occurred_at=at, facility=facility)
    await _handle(c, notification_consumed.matched, m, c.settings, at)
    async with c.runtime.uow() as uow:
        taken = {"acknowledged_by": ref, "acknowledged_at": at, "state": "acknowledged"}
        where = assignments.c.assignment_id == str(m.assignment_id)
        await uow.session.execute(update(assignments).where(where).values(**taken))
        await uow.commit()
    return str(m.assignment_id)


async def encounter(stack: Stack, token: str, assignment: str, at: datetime, outcome: str, **more: Any) -> None:
    """Log an encounter through the notification API (a coordinator's token)."""
    body = {"occurred_at": at.isoformat(), "mode": "phone", "duration": "15-30m", "outcome": outcome, **more}
    base = stack.site.app.state.console.settings.notification_url
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        r = await client.post(
            f"/v1/assignments/{assignment}/encounters", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 201, r.text


async def seed_evaluation(stack: Stack, start: datetime) -> None:
    """Two months from ``start`` (the first of a month, UTC):

    month 1: 6 reports decided; 6 cases, each first contacted 20 min after its match with support given;
    month 2: 2 reports; 7 cases: 5 given support (one with a crisis referral), 2 declined, contacted after 40 min.
    """
    token = await stack.token("coordinator")
    second = (start + timedelta(days=32)).replace(day=1)
    for month, reports in ((start, 6), (second, 2)):
        for i in range(reports):
            await decide(stack, month + timedelta(days=2, hours=i))
    plan = [(start, 20, ["support_given"] * 6), (second, 40, ["support_given"] * 5 + ["support_declined"] * 2)]
    for month, minutes, outcomes in plan:
        for i, outcome in enumerate(outcomes):
            at = month + timedelta(days=3, hours=i)
            assignment = await open_case(stack, at)
            referrals = ["crisis"] if month == second and i == 0 else []
            await encounter(stack, token, assignment, at + timedelta(minutes=minutes), outcome, referrals=referrals)
