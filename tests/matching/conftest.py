"""Matching fixtures: the app on a migrated SQLite file with a fixed clock, without broker or lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from psp_common.migrations import upgrade_async
from psp_common.pseudonym import Pseudonymizer
from psp_matching.bootstrap import MIGRATIONS, build
from psp_matching.handlers import Deps
from psp_matching.settings import MatchingSettings
from tests.matching.factories import NOW
from tests.support import client_for


@dataclass
class Service:
    """The app, an HTTP client and the wiring behind it."""

    app: FastAPI
    client: httpx.AsyncClient
    container: Any

    def ref(self, staff_id: str) -> str:
        """Pseudonym of a staff id under the service's key."""
        pseudo: Pseudonymizer = self.container.pseudo
        return pseudo.pseudonym(staff_id)


@asynccontextmanager
async def service_on(url: str, **over: Any) -> AsyncIterator[Service]:
    """Matching on a migrated database at ``url`` (settings ``over``); the clock is fixed at NOW (10:00 in Toronto)."""
    settings = MatchingSettings(database_url=url, kafka_create_topics=False, **over)
    await upgrade_async(MIGRATIONS, url)
    deps = Deps(settings, Pseudonymizer.from_settings(settings), clock=lambda: NOW)
    app = build(settings, deps)
    async with client_for(app) as client:
        yield Service(app, client, app.state.container)
    await app.state.runtime.engine.dispose()


@pytest.fixture
async def svc(sqlite_url: str) -> AsyncIterator[Service]:
    """Matching on SQLite; the clock is fixed at NOW (10:00 in Toronto)."""
    async with service_on(sqlite_url) as service:
        yield service


def body(staff_id: str, **over: Any) -> dict[str, Any]:
    """The minimal supporter body other services rely on, plus overrides."""
    out: dict[str, Any] = {
        "staff_id": staff_id,
        "display_name": f"Peer {staff_id}",
        "profession": "rn",
        "seniority_level": 4,
        "site": "GEN",
    }
    out.update(over)
    return out
