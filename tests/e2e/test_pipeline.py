"""End to end: report in -> rules -> matching -> notification, four processes, real broker and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from psp_common import demo, topics
from psp_common.settings import ServiceSettings
from psp_common.stack import Stack
from tests.support import auth_headers, eventually, produce, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.kafka]


async def test_report_reaches_a_peer_supporter(stack: Stack) -> None:
    rid = f"E2E-{uuid.uuid4().hex[:8]}"
    secret = f"NARR-{uuid.uuid4().hex}"
    tag = uuid.uuid4().hex[:8]
    coordinator = auth_headers(ServiceSettings(), ["coordinator"], subject="e2e-coordinator")
    async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
        for i, s in enumerate(demo.SUPPORTERS):
            r = await client.post(f"{stack.url('matching')}/v1/supporters", json=s)
            assert r.status_code in (200, 201), r.text
            channels = [
                {"kind": "console", "address": "console"},
                {"kind": "email", "address": f"peer{i}.{tag}@hospital.example"},
                {"kind": "sms", "address": f"+1416555{i:04d}"},
            ]
            r = await client.put(
                f"{stack.url('notification')}/v1/contacts/{s['staff_id']}", json={"channels": channels}
            )
            assert r.status_code in (200, 201, 204), r.text
        report = {**demo.reports()[0], "report_id": rid, "narrative": secret}
        r = await client.post(f"{stack.url('listener')}/v1/occurrence-reports", json=report)
        assert r.status_code == 202, r.text
        # A broken report with the same narrative and patient data on the Kafka intake: dead-lettered, not leaked.
        poison = json.dumps({**report, "report_id": rid + "-bad", "harm_level": "catastrophic"}).encode()
        await produce(stack.bootstrap or "", topics.OCCURRENCE_REPORTS, poison)

        async def delivered() -> list[dict[str, Any]]:
            resp = await client.get(f"{stack.url('notification')}/v1/deliveries")
            body = resp.json()
            items: list[dict[str, Any]] = body if isinstance(body, list) else body.get("items", [])
            return [d for d in items if d.get("state") in ("sent", "delivered")]

        deliveries = await eventually(delivered, timeout=90)
    assert len(deliveries) == 1
    supporter_refs = {d["supporter_ref"] for d in deliveries}
    case_id = deliveries[0]["case_id"]
    statuses = await read_topic(  # this case's: other tests on the shared broker publish 'notified' too
        stack.bootstrap or "",
        topics.OUTREACH_STATUS,
        count=1,
        match=lambda m: m["value"].get("status") == "notified" and m["value"].get("case_id") == case_id,
        timeout=30,
    )
    assert statuses and statuses[0]["value"]["supporter_ref"] in supporter_refs
    dead = await read_topic(
        stack.bootstrap or "",
        topics.DEAD_LETTER,
        count=1,
        timeout=30,
        match=lambda m: m["headers"].get("x-dlq-source-topic") == topics.OCCURRENCE_REPORTS,
    )
    assert dead and dead[0]["headers"].get("x-dlq-quarantine-id")
    # Nothing confidential reached any topic the services write, nor any log line: no narrative, patient
    # identifier, staff id or contact detail. (The hospital's own intake topics are the source, not ours.)
    forbidden = [secret, "DEMO-MRN-1", "E-200", f"{tag}@hospital.example", "+1416555000"]
    forbidden += [s["staff_id"] for s in demo.SUPPORTERS]
    intake = {topics.OCCURRENCE_REPORTS, topics.SAFETY_HUDDLES, topics.FHIR_ADVERSE_EVENTS}
    for topic in set(topics.ALL_TOPICS) - intake:
        for m in await read_topic(stack.bootstrap or "", topic, count=100_000, timeout=3):
            raw = m["raw"].decode(errors="replace") + " " + " ".join(m["headers"].values())
            leaked = [f for f in forbidden if f in raw]
            assert not leaked, f"{topic} carries {leaked}"
    for svc in stack.services.values():
        text = svc.log_path.read_text(errors="replace")
        leaked = [f for f in forbidden if f in text]
        assert not leaked, f"{svc.name} log carries {leaked}"
