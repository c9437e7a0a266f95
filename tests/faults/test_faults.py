"""Fault injection: crashes, pauses, dropped connections, poison, replays and rebalances lose nothing and
page nobody twice. Each test streams reports through the four service processes while a fault strikes,
then checks the ledger."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from psp_common import topics
from psp_common.embedded import EmbeddedBroker, free_port
from tests.faults.conftest import FaultRig, auth_headers
from tests.faults.ledger import Stream, check_ledger, incident_ref, make_report, new_run, query
from tests.support import read_topic

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.kafka]


async def restart(rig: FaultRig, name: str) -> None:
    """Start a stopped service again and wait until it is ready."""
    rig.stack.spawn(name)
    await rig.stack.wait_ready(timeout=180, names=(name,))


# What each service has handled so far: it is mid-stream once this grows while reports keep coming.
HANDLED = {
    "notification": "SELECT count(*) FROM pages",
    "matching": "SELECT count(*) FROM assignments",
    "rules": "SELECT count(*) FROM decisions",
    "listener": "SELECT count(*) FROM reports",
}


async def handled(rig: FaultRig, name: str) -> int:
    """How many rows of the stream ``name`` has written so far."""
    return int((await query(rig.dsns[name], HANDLED[name]))[0][0])


async def handling(rig: FaultRig, name: str, more_than: int, timeout: float = 180.0) -> None:
    """Wait until ``name`` handled more of the stream than ``more_than`` (it is at work: no fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await handled(rig, name) <= more_than:
        assert loop.time() < deadline, f"{name} handled nothing more of the stream"
        await asyncio.sleep(0.1)


async def test_sigkill_each_service_mid_stream_then_restart(rig: FaultRig) -> None:
    """Downstream first, so each service dies at work: its upstream is up, the stream goes on until the last kill,
    and it handled more since the previous kill. Each is restarted at once: the four restarts overlap (a restart
    is mostly waiting for the broker to assign each subscription, ~5 s apiece, so serial restarts cost minutes)."""
    run = new_run()
    stream = Stream(rig.stack.bootstrap or "", run, good=16, pace_s=0.25)
    opted_out = f"C-{run}-3"
    async with httpx.AsyncClient(timeout=10, headers=auth_headers()) as client:
        r = await client.post(f"{rig.stack.url('rules')}/v1/opt-outs", json={"staff_id": opted_out})
        assert r.status_code == 201, r.text
    killed = asyncio.Event()
    producing = asyncio.create_task(stream.produce(until=killed))
    before = dict.fromkeys(HANDLED, 0)
    for name in ("notification", "matching", "rules", "listener"):
        await handling(rig, name, more_than=before[name])  # it handled more since the previous kill: it is at work
        assert not producing.done()
        rig.stack.signal(name, signal.SIGKILL)
        rig.stack.wait_exit(name)
        rig.stack.spawn(name)
        before = {n: await handled(rig, n) for n in HANDLED}
    killed.set()
    await producing
    await rig.stack.wait_ready(timeout=180, names=tuple(HANDLED))
    await check_ledger(rig, run, good=stream.good, poison=stream.poison, suppressed=1)
    outcome = await query(rig.dsns["rules"], "SELECT outcome FROM decisions WHERE outcome LIKE '%opted out%'")
    assert outcome, "the opted-out clinician's report was not recorded as suppressed"


async def test_sigterm_while_in_flight_with_duplicates_and_replays(rig: FaultRig) -> None:
    run = new_run()
    stream = Stream(rig.stack.bootstrap or "", run, good=16, pace_s=0.2, duplicates=True)
    producing = asyncio.create_task(stream.produce())
    for name in ("notification", "matching", "rules", "listener"):
        await asyncio.sleep(0.8)
        rig.stack.signal(name, signal.SIGTERM)
        assert rig.stack.wait_exit(name, timeout=60) is not None
        await restart(rig, name)
    await producing
    # Replay: re-publish this run's normalized events byte for byte, as a mirror or a reset consumer would.
    observed = await read_topic(rig.stack.bootstrap or "", topics.INCIDENT_OBSERVED, count=10_000, timeout=5)
    refs = {incident_ref(run, i) for i in range(stream.good)}
    mine = [m for m in observed if m["value"]["incident_ref"] in refs]
    assert len(mine) >= stream.good
    producer = AIOKafkaProducer(bootstrap_servers=rig.stack.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for m in mine:
            await producer.send_and_wait(topics.INCIDENT_OBSERVED, m["raw"], key=m["key"])
    finally:
        await producer.stop()
    await check_ledger(rig, run, good=stream.good, poison=stream.poison)


async def test_postgres_connections_terminated_mid_transaction(rig: FaultRig, pg_admin_dsn: str) -> None:
    run = new_run()
    stream = Stream(rig.stack.bootstrap or "", run, good=20, pace_s=0.2)
    producing = asyncio.create_task(stream.produce())
    names = [dsn.rsplit("/", 1)[1] for dsn in rig.dsns.values()]
    killed = 0
    while not producing.done():
        rows = await query(
            pg_admin_dsn,
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
            "WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
            names,
        )
        killed += rows[0]["n"]
        await asyncio.sleep(0.7)
    await producing
    assert killed > 0, "no connection was terminated: the fault did not strike"
    await check_ledger(rig, run, good=stream.good, poison=stream.poison)


async def test_consumer_group_rebalance_mid_handler(rig: FaultRig) -> None:
    run = new_run()
    stream = Stream(rig.stack.bootstrap or "", run, good=20, pace_s=0.25)
    producing = asyncio.create_task(stream.produce())
    await asyncio.sleep(1.0)
    extras = []
    for name in ("rules", "matching"):  # a second instance joins each group: partitions move mid-stream
        env = {**rig.stack.env_for(name), "PSP_HTTP_PORT": str(free_port())}
        log = open(rig.stack.workdir / f"{name}-2.log", "ab")  # noqa: SIM115
        extras.append(
            subprocess.Popen([sys.executable, "-m", f"psp_{name}"], env=env, stdout=log, stderr=subprocess.STDOUT)
        )
    await asyncio.sleep(8.0)
    for proc in extras:  # ... and leaves again: another rebalance
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    await producing
    await check_ledger(rig, run, good=stream.good, poison=stream.poison)


async def test_broker_paused_30s_then_resumed(own_broker_rig: tuple[FaultRig, EmbeddedBroker]) -> None:
    rig, broker = own_broker_rig
    assert broker.proc is not None
    pause = float(os.environ.get("PSP_FAULT_BROKER_PAUSE_S", "30"))
    run = new_run()
    stream = Stream(broker.bootstrap, run, good=12, pace_s=0.2)
    await stream.produce()
    os.kill(broker.proc.pid, signal.SIGSTOP)
    try:
        # Intake keeps arriving over HTTP while the broker is frozen: accepted into the outbox, not lost.
        async with httpx.AsyncClient(timeout=10, headers=auth_headers()) as client:
            for body in (make_report(run, stream.good + i) for i in range(4)):
                r = await client.post(f"{rig.stack.url('listener')}/v1/occurrence-reports", json=body)
                assert r.status_code == 202, r.text
        await asyncio.sleep(pause)
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)
    await check_ledger(rig, run, good=stream.good + 4, poison=stream.poison)
