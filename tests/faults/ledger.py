"""The ledger: every accepted report ends in exactly one state; no supporter is paged twice per assignment."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request

from psp_common import topics
from psp_common.embedded import free_port
from psp_common.pseudonym import Pseudonymizer
from psp_common.settings import ServiceSettings
from tests.clock import TEST_NOW


@dataclass
class WebhookReceiver:
    """A local webhook endpoint that records every page it receives (by idempotency key)."""

    port: int = field(default_factory=free_port)
    received: list[dict[str, Any]] = field(default_factory=list)
    _server: Any = None
    _task: Any = None

    async def start(self) -> str:
        """Start listening; return the URL to register as a contact."""
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> dict[str, str]:
            body = json.loads(await request.body())
            self.received.append({"key": request.headers.get("Idempotency-Key"), "body": body})
            return {"ok": "yes"}

        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.should_exit = True
            await self._task

    def keys(self) -> Counter[str]:
        """How many times each idempotency key arrived (a retry after a crash may repeat a key, never add one)."""
        return Counter(str(r["key"]) for r in self.received)


def new_run() -> str:
    """A short unique run id embedded in report ids."""
    return "f" + uuid.uuid4().hex[:8]


def make_report(run: str, i: int) -> dict[str, Any]:
    """A report that calls for outreach, with its own primary clinician (so nothing merges)."""
    at = (TEST_NOW - timedelta(minutes=30)).isoformat()
    return {
        "source_system": "fault",
        "report_id": f"{run}-{i}",
        "version": 1,
        "facility": "GEN",
        "unit": "ICU",
        "occurred_at": at,
        "event_class": "incident",
        "harm_level": "death",
        "involved_staff": [{"staff_id": f"C-{run}-{i}", "role": "rn", "involvement": "primary"}],
    }


def incident_ref(run: str, i: int) -> str:
    """The opaque reference the listener gives report ``i`` of ``run`` (services share default keys)."""
    return Pseudonymizer.from_settings(ServiceSettings()).reference("report", f"fault:{run}-{i}")


@dataclass
class Stream:
    """Reports (and poison) produced to the intake topic at a steady pace."""

    bootstrap: str
    run: str
    good: int
    poison_every: int = 7
    pace_s: float = 0.15
    duplicates: bool = False
    poison: int = 0

    async def produce(self, until: asyncio.Event | None = None) -> None:
        """Produce every report (twice if ``duplicates``), with a poison message every few; with ``until``, go on
        past ``good`` reports until it is set (``good`` then counts them all)."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, enable_idempotence=False, request_timeout_ms=120_000
        )
        await producer.start()
        try:
            i = 0
            while i < self.good or (until is not None and not until.is_set()):
                body = json.dumps(make_report(self.run, i)).encode()
                await producer.send_and_wait(topics.OCCURRENCE_REPORTS, body, key=f"{self.run}-{i}".encode())
                if self.duplicates:
                    await producer.send_and_wait(topics.OCCURRENCE_REPORTS, body, key=f"{self.run}-{i}".encode())
                if self.poison_every and i % self.poison_every == 0:
                    poison = b'{"report_id": "' + f"{self.run}-poison-{i}".encode() + b'", "harm_level": 7'
                    await producer.send_and_wait(topics.OCCURRENCE_REPORTS, poison)
                    self.poison += 1
                i += 1
                self.good = max(self.good, i)
                await asyncio.sleep(self.pace_s)
        finally:
            await producer.stop()


async def query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on a service database."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def settle(receiver: WebhookReceiver, expected: int, timeout: float) -> None:
    """Wait until ``expected`` distinct pages arrived, then a little longer for any wrongful extra."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(receiver.keys()) < expected and loop.time() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(3.0)


async def check_ledger(rig: Any, run: str, good: int, poison: int, suppressed: int = 0, timeout: float = 240.0) -> None:
    """Every report ends in exactly one state; every poison is quarantined; nobody is paged twice."""
    expected_pages = good - suppressed
    await settle(rig.receiver, expected_pages, timeout)
    refs = {incident_ref(run, i) for i in range(good)}
    decisions = await query(rig.dsns["rules"], "SELECT incident_ref, outcome FROM decisions")
    per_ref = Counter(d["incident_ref"] for d in decisions if d["incident_ref"] in refs)
    missing = refs - set(per_ref)
    assert not missing, f"{len(missing)} accepted reports have no decision"
    assert set(per_ref.values()) == {1}, f"some reports were decided twice: {per_ref.most_common(3)}"
    quarantined = await query(rig.dsns["listener"], "SELECT body FROM quarantine")
    assert sum(1 for q in quarantined if run.encode() in bytes(q["body"])) == poison
    keys = rig.receiver.keys()
    assert len(keys) == expected_pages, f"{len(keys)} distinct pages for {expected_pages} outreach cases"
    # A page the channel accepted but whose "sent" mark was lost to the fault stays 'sending' until its lease
    # runs out; it is then re-sent with the SAME idempotency key and marked. Wait for the rows to converge.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while True:
        pages = await query(
            rig.dsns["notification"], "SELECT assignment_id, recipient_ref, state FROM pages WHERE purpose = 'page'"
        )
        sent = sum(1 for p in pages if p["state"] == "sent")
        if sent == expected_pages or loop.time() > deadline:
            break
        await asyncio.sleep(1.0)
    pairs = Counter((p["assignment_id"], p["recipient_ref"]) for p in pages)
    assert all(n == 1 for n in pairs.values()), "a supporter was paged twice for one assignment"
    assert sent == expected_pages, f"{sent} pages marked sent of {expected_pages}: {Counter(p['state'] for p in pages)}"
    assert len(rig.receiver.keys()) == expected_pages, "a re-send after a lost mark used a new idempotency key"
