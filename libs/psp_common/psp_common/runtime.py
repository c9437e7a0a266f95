"""Service runtime: database, broker, outbox relay and FastAPI app with health, readiness and AsyncAPI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from psp_common import heap, logs, startup, topics
from psp_common.auth import TokenVerifier
from psp_common.auth_keys import config_problems
from psp_common.db import OutboxSignal, UnitOfWork, make_engine, messaging_tables
from psp_common.kafka import DeadLetters, doorbell_for, ensure_topics, make_broker, warn_unless_fetch_wait_settable
from psp_common.lag import BrokerLag
from psp_common.metrics import Metrics, install
from psp_common.migrations import upgrade_async
from psp_common.outbox import OutboxRelay
from psp_common.quiet_server import QuietServer
from psp_common.settings import ServiceSettings

log = logging.getLogger("psp.runtime")

S = TypeVar("S", bound=ServiceSettings)


class Runtime:
    """The concrete adapters one service process wires together."""

    def __init__(self, settings: ServiceSettings, metadata: MetaData, migrations: Path) -> None:
        self.settings = settings
        self.metadata = metadata
        self.migrations = migrations
        if "inbox" in metadata.tables:
            self.inbox, self.outbox = metadata.tables["inbox"], metadata.tables["outbox"]
        else:
            self.inbox, self.outbox = messaging_tables(metadata)
        self.engine: AsyncEngine = make_engine(settings.database_url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.signal = OutboxSignal()
        self.broker: KafkaBroker = make_broker(settings)
        self.metrics = Metrics(settings.service_name)
        self.metrics.watch_outbox(self.engine, self.outbox)
        self.lag = BrokerLag(self.metrics, settings.kafka_bootstrap)
        self.metrics.refreshers.append(self.lag.refresh)
        self.dead_letters = DeadLetters(self.broker, settings.service_name, metrics=self.metrics)
        self.relay = OutboxRelay(
            self.engine,
            self.outbox,
            self.broker,
            self.signal,
            batch=settings.outbox_batch,
            idle_poll_s=settings.outbox_poll_s,
            doorbell=doorbell_for(settings),
        )
        self.tokens = TokenVerifier(settings)
        self.background: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self.after_start: list[Callable[[], None]] = []  # run once the service is ready (e.g. heap.settle)
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = False

    def uow(self) -> UnitOfWork:
        """A new unit of work on this service's database."""
        return UnitOfWork(self.sessions, self.inbox, self.outbox, self.signal)

    def session(self) -> AsyncSession:
        """A plain session for read-only queries."""
        return self.sessions()

    async def start(self) -> None:
        """Migrate, create topics, start the broker, relay and background loops."""
        await upgrade_async(self.migrations, self.settings.database_url)
        if self.settings.kafka_create_topics:
            await ensure_topics(
                self.settings.kafka_bootstrap,
                topics.ALL_TOPICS,
                self.settings.kafka_partitions,
                self.settings.kafka_replication,
            )
        warn_unless_fetch_wait_settable()  # an aiokafka upgrade must not turn idle pacing off silently
        await self.broker.start()
        await asyncio.to_thread(self.tokens.keys.warm)
        self.relay.start()
        for loop in self.background:
            self._tasks.append(asyncio.create_task(loop()))
        self.ready = True
        for hook in self.after_start:
            hook()
        log.info("%s ready", self.settings.service_name)

    async def stop(self) -> None:
        """Stop consuming, drain the outbox, close everything."""
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.relay.stop()
        await self.lag.close()
        await self.engine.dispose()

    async def check_ready(self) -> dict[str, str]:
        """Probe the database and the broker."""
        status = {"database": "ok", "broker": "ok", "started": "ok" if self.ready else "starting"}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            status["database"] = f"error: {type(exc).__name__}"
        try:
            if not await self.broker.ping(timeout=2.0):
                status["broker"] = "unreachable"
        except Exception as exc:
            status["broker"] = f"error: {type(exc).__name__}"
        return status

    def asyncapi(self, title: str) -> dict[str, Any]:
        """The AsyncAPI document FastStream generates for this service's broker."""
        spec = AsyncAPI(self.broker, title=title, version="1.0.0", schema_version="3.0.0")
        doc: dict[str, Any] = spec.to_specification().to_jsonable()
        return doc


def create_app(runtime: Runtime, title: str, description: str) -> FastAPI:
    """FastAPI app whose lifespan runs the service; adds /healthz, /readyz, /asyncapi.json and /metrics."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.settings.service_name}

    @app.get("/readyz", tags=["ops"], summary="Readiness: database and broker reachable, consumers started.")
    async def readyz() -> JSONResponse:
        status = await runtime.check_ready()
        ok = all(v == "ok" for v in status.values())
        return JSONResponse(status, status_code=200 if ok else 503)

    @app.get("/asyncapi.json", tags=["ops"], summary="AsyncAPI document of this service's topics.")
    async def asyncapi() -> dict[str, Any]:
        return runtime.asyncapi(title)

    install(app, runtime.metrics)
    return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run the app with uvicorn; SIGTERM/SIGINT stop it gracefully."""
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_config=None, lifespan="on")
    QuietServer(config).run()


def run(settings_cls: type[S], build: Callable[[S], FastAPI]) -> None:
    """A service's console entry point: settings and start-up checks (exit 2 on a problem), logs, then serve."""
    settings = startup.load(settings_cls, config_problems)
    logs.configure(settings.log_level, settings.service_name)
    app = build(settings)
    # A service process only (not tests starting runtimes in-process): freeze what start-up built.
    app.state.runtime.after_start.append(lambda: heap.settle(settings.gc_young_threshold))
    serve(app, settings)
