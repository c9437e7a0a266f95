"""The full pipeline: listener -> rules -> matching -> notification as four processes on PostgreSQL.

The end of the pipeline is the notification service handing the page to its channel: every supporter's
contact is a webhook to a receiver inside the bench, which records the arrival time.

On the bench's own embedded broker (Tansu) the services run as ``make run`` runs them on it: with the Kafka doorbell
(psp_common.kafka.doorbell), and the bench's producer, the incident system of this test, rings the intake topic
as the services' relays ring theirs. Without it every subscriber idle before a burst kept a fetch waiting at
Tansu with the idle wait (2 s), which Tansu answers only at fixed points of that wait: the first second of a
fixed-rate run reached its pages 0.5-1.4 s late and made most of its p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import ConsumerRecord

from bench import payload, service_metrics
from bench.autovacuum import AutoVacuum
from bench.systems import System
from bench.trace import Extract
from bench.webhook import WebhookReceiver
from psp_common import topics
from psp_common.kafka.doorbell import Doorbell
from psp_common.kafka.pacing import doorbell_for
from psp_common.pseudonym import Pseudonymizer
from psp_common.settings import ServiceSettings
from psp_common.stack import SERVICES, Stack

BENCH_PSEUDONYM_KEY = "bench-only-pseudonym-key-0123456789"


def intake_bell(stack: Stack) -> Doorbell | None:
    """The doorbell the bench's producer rings for the intake topic: the one the listener builds from its own
    environment (``doorbell_for``), when the services have one."""
    env = stack.env_for("listener")
    if "PSP_KAFKA_DOORBELL_DIR" not in env:
        return None
    return doorbell_for(
        ServiceSettings(
            kafka_doorbell_dir=env["PSP_KAFKA_DOORBELL_DIR"], kafka_idle_after_ms=int(env["PSP_KAFKA_IDLE_AFTER_MS"])
        )
    )


class PipelineSystem(System):
    """The four services started by psp_common.stack.Stack on fresh PostgreSQL databases."""

    name = "pipeline"
    stage_labels = ("intake", "listener", "rules", "matching", "notification")

    def __init__(
        self,
        bootstrap: str,
        workdir: Path,
        pg_admin_dsn: str,
        *,
        supporters: int = 50,
        intake: str = "kafka",
        extra_env: dict[str, str] | None = None,
        partitions: int = 3,
        doorbell: bool = False,
    ) -> None:
        super().__init__(bootstrap, workdir, partitions)
        self.doorbell = doorbell  # the broker is the bench's embedded Tansu: see the module docstring
        self.bell: Doorbell | None = None
        self.pg_admin_dsn = pg_admin_dsn
        self.supporter_count = supporters
        self.intake = intake
        self.extra_env = {
            "PSP_PSEUDONYM_KEY": BENCH_PSEUDONYM_KEY,
            "PSP_MONTHLY_CAP": "100000000",  # matching: the per-supporter monthly cap must not starve the load
            "PSP_ENV": "dev",  # notification: the webhook receiver is plain http on loopback
            **(extra_env or {}),
        }
        self.stack: Stack | None = None
        self.dbs: dict[str, tuple[str, str]] = {}
        self.receiver = WebhookReceiver()
        defaults = ServiceSettings()  # the services run with the default reference key
        self.pseudo = Pseudonymizer(
            BENCH_PSEUDONYM_KEY.encode(),
            defaults.pseudonym_key_id,
            reference_key=defaults.reference_key.get_secret_value().encode(),
        )
        self._corr: dict[str, int] = {}
        self._page: dict[str, int] = {}
        self._base: dict[int, int] = {}
        self._client: httpx.AsyncClient | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self.http_errors = 0
        self.autovacuum: AutoVacuum | None = None

    @property
    def topics(self) -> tuple[str, ...]:
        """The four topics between the stages."""
        return (
            topics.OCCURRENCE_REPORTS,
            topics.INCIDENT_OBSERVED,
            topics.OUTREACH_REQUESTED,
            topics.SUPPORTER_MATCHED,
        )

    async def start(self) -> None:
        """Fresh databases, the four services, the roster and webhook contacts, then one probe report."""
        from tests.support import create_database

        self.dbs = {name: await create_database(self.pg_admin_dsn) for name in SERVICES}
        self.stack = Stack(
            workdir=self.workdir,
            database_urls={n: u for n, (_, u) in self.dbs.items()},
            bootstrap=self.bootstrap,
            extra_env=self.extra_env,
            partitions=self.partitions,
            doorbell=self.doorbell,
        )
        await asyncio.to_thread(self.stack.start)
        self.bell = intake_bell(self.stack)
        await self.stack.wait_ready(timeout=180)
        self.autovacuum = AutoVacuum([dsn for dsn, _ in self.dbs.values()])
        if await self.autovacuum.start():
            print("   the server's autovacuum is off: the bench vacuums and analyzes the tables as autovacuum would")
        for name, svc in self.stack.services.items():
            if svc.proc is not None:
                self.pids[name] = svc.proc.pid
        await self.receiver.start()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self._client = httpx.AsyncClient(timeout=30, limits=limits, headers=self._auth())
        await self._register()
        await self.start_producer()
        await self._probe()

    def _auth(self) -> dict[str, str]:
        try:
            from psp_common.auth import mint
        except ImportError:
            return {}
        settings = ServiceSettings()  # the services refuse tokens living longer than their cap
        ttl = min(24 * 3600, int(settings.auth_max_token_lifetime_s))
        token = mint(settings, "bench", ["coordinator", "intake"], ttl_s=ttl)
        return {"authorization": f"Bearer {token}"}

    async def _register(self) -> None:
        assert self._client is not None and self.stack is not None
        matching, notification = self.stack.url("matching"), self.stack.url("notification")
        for s in payload.supporters(self.supporter_count):
            r = await self._client.post(f"{matching}/v1/supporters", json=s)
            _check(r, "register supporter")
            r = await self._client.put(
                f"{notification}/v1/contacts/{s['staff_id']}",
                json={"channels": [{"kind": "webhook", "address": self.receiver.url}]},
            )
            _check(r, "register contact")

    async def _probe(self, timeout_s: float = 120.0) -> None:
        seq = self.take(1)
        await self.send(seq[0])
        deadline = time.monotonic() + timeout_s
        while not self.arrived(seq):
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipeline did not deliver a probe page within {timeout_s}s; logs: {self.workdir}")
            await asyncio.sleep(0.2)

    def take(self, n: int) -> range:
        """Reserve sequence numbers and remember how many pages had arrived before them."""
        seqs = super().take(n)
        self._base[seqs.start] = len(self.receiver.arrivals)
        for s in seqs:
            ref = self.pseudo.reference("report", f"{payload.SOURCE_SYSTEM}:{payload.report_id(s)}")
            self._corr[correlation_id(ref, 1)] = s
        return seqs

    async def maintain(self) -> None:
        """One round of the autovacuum stand-in now (when the server's own is off)."""
        if self.autovacuum is not None and self.autovacuum.running:
            await self.autovacuum.round()

    async def send(self, seq: int) -> None:
        """Produce the report to the intake topic (or POST it to the listener with ``intake='http'``)."""
        body = json.dumps(payload.report(seq)).encode()
        if self.intake == "http":
            task = asyncio.create_task(self._post(body))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            return
        assert self.producer is not None
        await self.producer.send(topics.OCCURRENCE_REPORTS, body, key=payload.report_id(seq).encode())
        if self.bell is not None:
            self.bell.ring((topics.OCCURRENCE_REPORTS,))

    async def _post(self, body: bytes) -> None:
        assert self._client is not None and self.stack is not None
        try:
            r = await self._client.post(
                f"{self.stack.url('listener')}/v1/occurrence-reports",
                content=body,
                headers={"content-type": "application/json"},
            )
            if r.status_code >= 300:
                self.http_errors += 1
        except httpx.HTTPError:
            self.http_errors += 1

    async def flush(self) -> None:
        """Wait for the producer and any POSTs in flight."""
        await super().flush()
        if self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    def arrived(self, seqs: range) -> int:
        """Pages received since ``seqs`` were reserved (one page per report)."""
        return min(len(seqs), len(self.receiver.arrivals) - self._base.get(seqs.start, 0))

    async def arrivals(self, seqs: range) -> dict[int, float]:
        """Page receipt times by sequence (call after ``stage_times``, which learns the page keys)."""
        out: dict[int, float] = {}
        for key, at in self.receiver.arrivals.items():
            seq = self._page.get(key)
            if seq is not None and seq in seqs:
                out[seq] = at
        return out

    def extractors(self) -> dict[str, Extract]:
        """Report id on intake; correlation id after; supporter-matched also yields the page's idempotency key."""
        prefix = f"B{payload.RUN}-".encode()

        def intake(r: ConsumerRecord[Any, Any]) -> int | None:
            key = r.key or b""
            return int(key[len(prefix) :]) if key.startswith(prefix) else None

        def by_corr(r: ConsumerRecord[Any, Any]) -> int | None:
            try:
                return self._corr.get(json.loads(r.value)["correlation_id"])
            except (ValueError, KeyError, TypeError):
                return None

        def matched(r: ConsumerRecord[Any, Any]) -> int | None:
            try:
                value = json.loads(r.value)
                seq = self._corr.get(value["correlation_id"])
                if seq is not None:
                    self._page[page_key(value["assignment_id"], value["primary"]["supporter_ref"])] = seq
                return seq
            except (ValueError, KeyError, TypeError):
                return None

        t = self.topics
        return {t[0]: intake, t[1]: by_corr, t[2]: by_corr, t[3]: matched}

    async def cpu_groups(self) -> dict[str, list[int]]:
        """The four services and the PostgreSQL backends serving their databases."""
        from bench.cpu import postgres_backends

        groups = await super().cpu_groups()
        names = [dsn.rsplit("/", 1)[1] for dsn, _ in self.dbs.values()]
        groups["postgres"] = await postgres_backends(self.pg_admin_dsn, names)
        return groups

    async def stop(self) -> None:
        """Stop the services, the receiver, and drop the databases."""
        from tests.support import drop_database

        if self._client is not None:
            await self._client.aclose()
        if self.stack is not None:
            await self.report_consumers(self.stack)
        if self.autovacuum is not None:
            await self.autovacuum.stop()
        await super().stop()
        await self.receiver.stop()
        if self.stack is not None:
            await asyncio.to_thread(self.stack.stop)
        if os.environ.get("PSP_BENCH_KEEP_DATABASES"):
            print("   kept the pipeline's databases:", {n: dsn.rsplit("/", 1)[1] for n, (dsn, _) in self.dbs.items()})
            return
        for dsn, _ in self.dbs.values():
            with contextlib.suppress(Exception):
                await drop_database(self.pg_admin_dsn, dsn.rsplit("/", 1)[1])

    async def report_consumers(self, stack: Stack) -> None:
        """Print each consumer's handler calls, batch size and time over the run (the services' /metrics)."""
        urls = {name: stack.url(name) for name in stack.services}
        figures = await service_metrics.collect(urls, self.workdir)
        if figures:
            print("   consumers over the whole run (the services' /metrics):")
            for f in figures:
                print(f.line())


def correlation_id(ref: str, version: int) -> str:
    """The listener's correlation id of a report version (psp_listener.adapters.common)."""
    from psp_listener.adapters.common import correlation_id as listener_corr

    return str(listener_corr(ref, version))


def page_key(assignment_id: str, supporter_ref: str) -> str:
    """The notification service's idempotency key of the first page of an assignment."""
    from psp_notification.domain.model import Purpose
    from psp_notification.domain.model import page_key as notification_key

    return notification_key(assignment_id, supporter_ref, Purpose.PAGE.value)


def _check(r: httpx.Response, what: str) -> None:
    if r.status_code >= 400:
        raise RuntimeError(f"{what} failed: HTTP {r.status_code} {r.text[:300]}")
