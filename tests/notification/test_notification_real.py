"""Notification over a real broker and PostgreSQL: contact -> SupporterMatched -> signed webhook page -> status."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from psp_common import topics
from psp_notification.adapters.webhook import verify_webhook
from psp_notification.bootstrap import build
from psp_notification.settings import NotificationSettings
from tests.clock import wall_seconds  # the service signs with the real time
from tests.notification.support import matched
from tests.notification.test_channels_real import Recorder, serve
from tests.support import eventually, produce, read_topic, running

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_supporter_matched_is_paged_once_and_notified_is_published(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    receiver = Recorder()
    hook = Starlette(routes=[Route("/page", receiver.handle, methods=["POST"])])
    settings = NotificationSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_url,
        kafka_idempotence=kafka_idempotence,
        dispatch_poll_s=120,  # no polling during the test: the page goes out because the commit woke the dispatcher
        webhook_backoff_s=0.0,
        env="dev",  # the receiver is a plain-http local server
    )
    key = settings.webhook_secret.get_secret_value().encode()
    async with serve(hook) as hook_url, running(build(settings)) as client:
        r = await client.put(
            f"/v1/contacts/E-{uuid.uuid4().hex[:6]}",
            json={"channels": [{"kind": "webhook", "address": f"{hook_url}/page"}]},
        )
        assert r.status_code == 200, r.text
        ref = r.json()["staff_ref"]
        event = matched(primary=ref, backups=("ps_backup_someone",))
        body = event.model_dump_json().encode()
        await produce(kafka_bootstrap, topics.SUPPORTER_MATCHED, body, key=str(event.case_id).encode())
        await produce(kafka_bootstrap, topics.SUPPORTER_MATCHED, body, key=str(event.case_id).encode())
        # A later event on the same partition: once it is paged, the duplicate before it was handled too.
        marker = matched(primary="ps_marker", case_id=event.case_id, correlation_id=event.correlation_id)
        await produce(
            kafka_bootstrap,
            topics.SUPPORTER_MATCHED,
            marker.model_dump_json().encode(),
            key=str(event.case_id).encode(),
        )

        async def sent() -> list[dict[str, Any]]:
            # Pages are sent concurrently (the marker's may be recorded before the webhook's): wait for both.
            items = (await client.get("/v1/deliveries", params={"state": "sent"})).json()["items"]
            wanted = {str(marker.assignment_id), str(event.assignment_id)}
            return items if {i["assignment_id"] for i in items} >= wanted else []

        items = await eventually(sent)
        mine = [i for i in items if i["assignment_id"] == str(event.assignment_id)]
        assert len(mine) == 1 and mine[0]["channel"] == "webhook" and mine[0]["supporter_ref"] == ref
        statuses = await read_topic(
            kafka_bootstrap,
            topics.OUTREACH_STATUS,
            count=2,
            match=lambda m: m["value"]["assignment_id"] == str(event.assignment_id),
        )
        case = (await client.get(f"/v1/cases/{event.case_id}/status")).json()
        # The supporter follows the signed link from the page they received.
        [req] = receiver.requests
        h = req["headers"]
        assert verify_webhook(key, h["x-psp-timestamp"], req["body"], h["x-psp-signature"], wall_seconds(), 300)
        assert h["idempotency-key"] == mine[0]["idempotency_key"]
        ack = httpx.URL(json.loads(req["body"])["links"]["ack"]).path
        r = await client.post(ack)
        assert r.status_code == 200 and r.json()["result"] == "acknowledged"
        acked = await read_topic(
            kafka_bootstrap,
            topics.OUTREACH_STATUS,
            match=lambda m: (
                m["value"]["assignment_id"] == str(event.assignment_id) and m["value"]["status"] == "acknowledged"
            ),
        )
    assert [s["value"]["status"] for s in statuses] == ["assigned", "notified"]
    assert statuses[1]["value"]["supporter_ref"] == ref and statuses[1]["value"]["channel"] == "webhook"
    assert statuses[1]["key"] == str(event.case_id).encode()
    for s in statuses:
        assert "127.0.0.1" not in s["raw"].decode() and "/page" not in s["raw"].decode()
    assert acked and acked[0]["value"]["supporter_ref"] == ref
    assert [h["status"] for h in case["history"]].count("notified") == 2  # event + marker, not the duplicate
