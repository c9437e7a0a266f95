"""Fault-injection fixtures: a stack on PostgreSQL with a webhook receiver and a registered roster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from psp_common.auth import mint
from psp_common.embedded import EmbeddedBroker
from psp_common.settings import ServiceSettings
from psp_common.stack import SERVICES, Stack
from tests.clock import STACK_ENV
from tests.faults.ledger import WebhookReceiver
from tests.support import create_database, drop_database

# Fast timers so a crashed send is retried within the test; a cap high enough for the whole run.
FAULT_ENV = {
    "PSP_MONTHLY_CAP": "100000",
    "PSP_SEND_LEASE_S": "5",
    "PSP_CHANNEL_SEND_DEADLINE_S": "2",  # at most half the lease (checked at start)
    "PSP_DISPATCH_POLL_S": "0.2",
    "PSP_RETRY_BACKOFF_S": "0.05",
    "PSP_SEND_RETRY_S": "1",
    **STACK_ENV,
}
SUPPORTERS = 12


def auth_headers() -> dict[str, str]:
    """A coordinator token valid for every service of the stack (they share the default dev secret)."""
    return {"Authorization": f"Bearer {mint(ServiceSettings(), 'fault-suite', ['coordinator'])}"}


@dataclass
class FaultRig:
    """A running stack, its databases and the webhook receiver its pages go to."""

    stack: Stack
    dsns: dict[str, str]
    receiver: WebhookReceiver


async def register_roster(stack: Stack, hook_url: str) -> None:
    """Supporters in matching, each with a webhook contact in notification."""
    async with httpx.AsyncClient(timeout=10, headers=auth_headers()) as client:
        for i in range(SUPPORTERS):
            staff = f"FS-{i}"
            r = await client.post(
                f"{stack.url('matching')}/v1/supporters",
                json={
                    "staff_id": staff,
                    "display_name": f"Fault peer {i}",
                    "profession": "rn",
                    "seniority_level": 5,
                    "site": "GEN",
                    "training": {"group_facilitation": True, "mental_health_credentials": True},
                },
            )
            assert r.status_code in (200, 201), r.text
            r = await client.put(
                f"{stack.url('notification')}/v1/contacts/{staff}",
                json={"channels": [{"kind": "webhook", "address": hook_url}]},
            )
            assert r.status_code in (200, 201, 204), r.text


async def _rig(bootstrap: str, idem: bool, pg_admin_dsn: str, workdir: Path) -> AsyncIterator[FaultRig]:
    dbs = {name: await create_database(pg_admin_dsn) for name in SERVICES}
    receiver = WebhookReceiver()
    hook = await receiver.start()
    stack = Stack(
        workdir=workdir,
        database_urls={n: url for n, (_, url) in dbs.items()},
        bootstrap=bootstrap,
        idempotence=idem,
        extra_env=dict(FAULT_ENV),
        doorbell=True,  # idle subscribers doze on the doorbell: the faults strike that path too
    )
    stack.start()
    try:
        await stack.wait_ready(timeout=180)
        await register_roster(stack, hook)
        yield FaultRig(stack, {n: dsn for n, (dsn, _) in dbs.items()}, receiver)
    finally:
        stack.stop()
        await receiver.stop()
        for dsn, _ in dbs.values():
            await drop_database(pg_admin_dsn, dsn.rsplit("/", 1)[1])


@pytest.fixture
async def rig(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_admin_dsn: str, tmp_path: Path
) -> AsyncIterator[FaultRig]:
    """The four services on the session broker."""
    async for r in _rig(kafka_bootstrap, kafka_idempotence, pg_admin_dsn, tmp_path):
        yield r


@pytest.fixture
async def own_broker_rig(pg_admin_dsn: str, tmp_path: Path) -> AsyncIterator[tuple[FaultRig, EmbeddedBroker]]:
    """The four services on a broker of their own, so the test may pause it."""
    broker = EmbeddedBroker(log_path=tmp_path / "own-broker.log").start()
    try:
        async for r in _rig(broker.bootstrap, False, pg_admin_dsn, tmp_path):
            yield r, broker
    finally:
        broker.stop()
