"""Listener test fixtures: an in-process app on SQLite or PostgreSQL (no broker) and a normalizer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from psp_common import topics
from psp_common.migrations import upgrade_async
from psp_common.pseudonym import Pseudonymizer
from psp_listener.adapters.orm import outbox
from psp_listener.bootstrap import MIGRATIONS, build
from psp_listener.normalizer import Normalizer
from psp_listener.settings import ListenerSettings
from tests.support import auth_headers

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    """A JSON example from tests/listener/fixtures."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def make_normalizer(**over: Any) -> Normalizer:
    """A normalizer on default settings overridden by ``over``."""
    settings = ListenerSettings(**over)
    return Normalizer(settings, Pseudonymizer.from_settings(settings))


@pytest.fixture
def norm() -> Normalizer:
    """Normalizer with default settings."""
    return make_normalizer()


def offline_app(database_url: str, **over: Any) -> FastAPI:
    """The listener app whose lifespan only migrates the database (no broker, no relay)."""
    app = build(ListenerSettings(database_url=database_url, **over))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await upgrade_async(MIGRATIONS, database_url)
        yield
        await app.state.container.runtime.engine.dispose()

    app.router.lifespan_context = lifespan
    return app


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    """HTTP client to an offline listener app on a fresh SQLite database."""
    app = offline_app(sqlite_url, max_body_bytes=64 * 1024)
    headers = auth_headers(app.state.runtime.settings)
    with TestClient(app, raise_server_exceptions=False, headers=headers) as c:
        yield c


def query(api: TestClient, statement: Any) -> list[Any]:
    """Run a query on the app's own engine, in the client's event loop."""

    async def run() -> list[Any]:
        async with api.app.state.container.runtime.session() as session:  # type: ignore[attr-defined]
            return list((await session.execute(statement)).all())

    portal = api.portal
    assert portal is not None
    return portal.call(run)


def published(api: TestClient) -> list[dict[str, Any]]:
    """IncidentObserved payloads in the outbox."""
    rows = query(api, select(outbox.c.payload).where(outbox.c.topic == topics.INCIDENT_OBSERVED).order_by(outbox.c.id))
    return [json.loads(r[0]) for r in rows]


def stored_text(api: TestClient) -> str:
    """Everything the triage table holds, as text."""
    return " ".join(str(r) for r in query(api, text("SELECT * FROM triage")))


@pytest.fixture
def db(request: pytest.FixtureRequest) -> str:
    """SQLite, or PostgreSQL when parametrized indirectly with 'postgres'."""
    kind = getattr(request, "param", "sqlite")
    url: str = request.getfixturevalue("pg_url" if kind == "postgres" else "sqlite_url")
    return url


@pytest.fixture
def api(db: str) -> Iterator[TestClient]:
    app = offline_app(db)
    headers = auth_headers(app.state.runtime.settings, subject="coord-7")
    with TestClient(app, raise_server_exceptions=False, headers=headers) as c:
        yield c
