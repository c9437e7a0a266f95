"""End to end: report in -> rules -> matching -> notification, four processes, real broker and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from psp_common import demo, topics
from psp_common.settings import ServiceSettings
from psp_common.stack import Stack
from tests.support import auth_headers, eventually, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.kafka]


async def test_report_reaches_a_peer_supporter(stack: Stack) -> None:
    rid = f"E2E-{uuid.uuid4().hex[:8]}"
    secret = f"NARR-{uuid.uuid4().hex}"
    coordinator = auth_headers(ServiceSettings(), ["coordinator"], subject="e2e-coordinator")
    async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
        for s in demo.SUPPORTERS:
            r = await client.post(f"{stack.url('matching')}/v1/supporters", json=s)
            assert r.status_code in (200, 201), r.text
            r = await client.put(
                f"{stack.url('notification')}/v1/contacts/{s['staff_id']}",
                json={"channels": [{"kind": "console", "address": "console"}]},
            )
            assert r.status_code in (200, 201, 204), r.text
        report = {**demo.reports()[0], "report_id": rid, "narrative": secret}
        r = await client.post(f"{stack.url('listener')}/v1/occurrence-reports", json=report)
        assert r.status_code == 202, r.text

        async def delivered() -> list[dict[str, Any]]:
            resp = await client.get(f"{stack.url('notification')}/v1/deliveries")
            body = resp.json()
            items: list[dict[str, Any]] = body if isinstance(body, list) else body.get("items", [])
            return [d for d in items if d.get("state") in ("sent", "delivered")]

        deliveries = await eventually(delivered, timeout=90)
    assert len(deliveries) == 1
    supporter_refs = {d["supporter_ref"] for d in deliveries}
    statuses = await read_topic(
        stack.bootstrap or "",
        topics.OUTREACH_STATUS,
        count=1,
        match=lambda m: m["value"].get("status") == "notified",
        timeout=30,
    )
    assert statuses and statuses[0]["value"]["supporter_ref"] in supporter_refs
    # Nothing confidential reached any topic or any log line.
    for topic in (
        topics.INCIDENT_OBSERVED,
        topics.OUTREACH_REQUESTED,
        topics.SUPPORTER_MATCHED,
        topics.OUTREACH_STATUS,
    ):
        for m in await read_topic(stack.bootstrap or "", topic, count=10_000, timeout=3):
            raw = m["raw"].decode(errors="replace")
            assert secret not in raw and "DEMO-MRN-1" not in raw and "E-200" not in raw, topic
    for svc in stack.services.values():
        text = svc.log_path.read_text(errors="replace")
        assert secret not in text and "DEMO-MRN-1" not in text, svc.name
