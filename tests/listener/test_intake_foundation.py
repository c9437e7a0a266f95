"""Listener over a real broker and PostgreSQL: accept, amend, dedupe, dead-letter."""

from __future__ import annotations

import json
import uuid

import pytest

from psp_common import topics
from psp_listener.bootstrap import build
from psp_listener.settings import ListenerSettings
from tests.support import produce, read_topic, running

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def report(report_id: str, version: int = 1, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "source_system": "rl6", "report_id": report_id, "version": version, "facility": "GEN",
        "unit": "ICU", "occurred_at": "2026-11-23T03:00:00-05:00", "event_class": "incident",
        "harm_level": "death", "involved_staff": [{"staff_id": "E100", "role": "rn"}],
        "narrative": "NARRATIVE-SECRET the patient coded", "patient": {"mrn": "MRN-777", "age_group": "adult"},
    }
    body.update(over)
    return body


def settings(kafka_bootstrap: str, pg_url: str, idem: bool) -> ListenerSettings:
    return ListenerSettings(kafka_bootstrap=kafka_bootstrap, database_url=pg_url, kafka_idempotence=idem)


async def test_http_report_is_published_stripped_and_amendments_ordered(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    rid = f"R-{uuid.uuid4().hex[:8]}"
    async with running(build(settings(kafka_bootstrap, pg_url, kafka_idempotence))) as client:
        first = await client.post("/v1/occurrence-reports", json=report(rid, 1, harm_level="mild"))
        assert first.status_code == 202, first.text
        ref = first.json()["incident_ref"]
        again = await client.post("/v1/occurrence-reports", json=report(rid, 1, harm_level="mild"))
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        upgraded = await client.post("/v1/occurrence-reports", json=report(rid, 2))
        assert upgraded.status_code == 202
        late = await client.post("/v1/occurrence-reports", json=report(rid, 1))
        assert late.json()["status"] == "superseded"
        events = await read_topic(
            kafka_bootstrap, topics.INCIDENT_OBSERVED, count=2,
            match=lambda m: m["value"]["incident_ref"] == ref,
        )
    assert [e["value"]["report_version"] for e in events] == [1, 2]
    assert [e["value"]["harm_level"] for e in events] == ["mild", "death"]
    for e in events:
        raw = e["raw"].decode()
        assert "NARRATIVE-SECRET" not in raw and "MRN-777" not in raw and "E100" not in raw
        assert e["key"].decode() == ref


async def test_bad_http_input_names_field_and_reason(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    async with running(build(settings(kafka_bootstrap, pg_url, kafka_idempotence))) as client:
        bad = report("X", involved_staff=[], occurred_at="2026-11-23T03:00:00", colour="red")
        r = await client.post("/v1/occurrence-reports", json=bad)
        assert r.status_code == 422
        fields = {e["field"] for e in r.json()["errors"]}
        assert {"involved_staff", "occurred_at", "colour"} <= fields
        assert "NARRATIVE-SECRET" not in r.text
        r = await client.post(
            "/v1/occurrence-reports", content=b'{"source_system": ', headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
        r = await client.post("/v1/occurrence-reports", json=report("Y", narrative="x" * 300_000))
        assert r.status_code == 413


async def test_kafka_intake_publishes_good_and_dead_letters_poison(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    rid = f"K-{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex
    async with running(build(settings(kafka_bootstrap, pg_url, kafka_idempotence))):
        await produce(kafka_bootstrap, topics.OCCURRENCE_REPORTS, b'{"broken' + marker.encode())
        await produce(kafka_bootstrap, topics.OCCURRENCE_REPORTS, json.dumps(report(rid)).encode())
        dead = await read_topic(
            kafka_bootstrap, topics.DEAD_LETTER, match=lambda m: marker.encode() in m["raw"]
        )
        ok = await read_topic(
            kafka_bootstrap, topics.INCIDENT_OBSERVED,
            match=lambda m: m["value"]["correlation_id"] and m["value"]["harm_level"] == "death"
            and m["value"]["report_version"] == 1 and m["value"]["facility"] == "GEN"
            and m["value"]["incident_ref"] != "",
        )
    assert dead and dead[0]["headers"]["x-dlq-source-topic"] == topics.OCCURRENCE_REPORTS
    assert dead[0]["headers"]["x-dlq-attempts"] == "1"
    assert "Invalid JSON" in dead[0]["headers"]["x-dlq-reason"]
    assert ok
