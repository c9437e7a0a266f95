"""Listener over a real broker and PostgreSQL: accept, amend, dedupe, dead-letter, every intake format."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from psp_common import topics
from psp_common.pseudonym import Pseudonymizer
from psp_listener.bootstrap import build
from psp_listener.settings import ListenerSettings
from tests.listener.conftest import fixture
from tests.support import eventually, produce, read_topic, running

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def report(report_id: str, version: int = 1, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "source_system": "rl6",
        "report_id": report_id,
        "version": version,
        "facility": "GEN",
        "unit": "ICU",
        "occurred_at": "2026-11-23T03:00:00-05:00",
        "event_class": "incident",
        "harm_level": "death",
        "involved_staff": [{"staff_id": "E100", "role": "rn"}],
        "narrative": "NARRATIVE-SECRET the patient coded",
        "patient": {"mrn": "MRN-777", "age_group": "adult"},
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
            kafka_bootstrap,
            topics.INCIDENT_OBSERVED,
            count=2,
            match=lambda m: m["value"]["incident_ref"] == ref,
        )
    assert [e["value"]["report_version"] for e in events] == [1, 2]
    assert [e["value"]["harm_level"] for e in events] == ["mild", "death"]
    for e in events:
        raw = e["raw"].decode()
        assert "NARRATIVE-SECRET" not in raw and "MRN-777" not in raw and "E100" not in raw
        assert e["key"].decode() == ref


async def quarantined(url: str, tag: str, count: int) -> dict[str, bytes]:
    """Quarantined bodies of this run by id, once ``count`` of them are there."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, body FROM quarantine"))).all()
    finally:
        await engine.dispose()
    found = {r.id: bytes(r.body) for r in rows if tag.encode() in bytes(r.body)}
    return found if len(found) >= count else {}


async def test_kafka_intake_of_every_format_publishes_good_and_dead_letters_poison(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    """One app start: raw bytes on each intake topic (good and poison), plus FHIR and huddles over HTTP."""
    tag = uuid.uuid4().hex[:8]
    r4, r5 = fixture("adverse_event_r4.json"), fixture("adverse_event_r5.json")
    r4["identifier"]["value"], r5["identifier"][0]["value"] = f"OCC-{tag}", f"SE-{tag}"
    r5_http = {**fixture("adverse_event_r5_staff_injury.json"), "id": f"inj-{tag}"}
    huddle = {
        "entry_id": f"H-{tag}",
        "call": "evening",
        "facility": "GEN",
        "unit": "ED",
        "team_size": 9,
        "huddle_at": "2026-11-23T17:00:00-05:00",
        "note": "NARRATIVE-SECRET assault in triage",
    }
    good = {
        topics.OCCURRENCE_REPORTS: report(f"K-{tag}"),
        topics.FHIR_ADVERSE_EVENTS: r4,
        topics.SAFETY_HUDDLES: {**huddle, "entry_id": f"HK-{tag}", "call": "morning"},
    }
    conf = settings(kafka_bootstrap, pg_url, kafka_idempotence)
    pseudo = Pseudonymizer.from_settings(conf)
    refs = {
        pseudo.reference("report", source)
        for source in (
            f"rl6:K-{tag}",
            f"http://general-hospital.example/ids/occurrence:OCC-{tag}",
            f"http://childrens.example/ids/safety-events:SE-{tag}",
            f"fhir:inj-{tag}",
            f"huddle:H-{tag}",
            f"huddle:HK-{tag}",
        )
    }
    async with running(build(conf)) as client:
        for topic, body in good.items():
            await produce(kafka_bootstrap, topic, b'{"broken' + tag.encode() + topic.encode())
            await produce(kafka_bootstrap, topic, json.dumps(body).encode())
        await produce(kafka_bootstrap, topics.FHIR_ADVERSE_EVENTS, json.dumps(r5).encode())
        bad_fhir = {**r4, "id": f"bad-{tag}", "severity": "very"}
        await produce(kafka_bootstrap, topics.FHIR_ADVERSE_EVENTS, json.dumps(bad_fhir).encode())
        fhir_http = await client.post(
            "/fhir/AdverseEvent",
            content=json.dumps(r5_http).encode(),
            headers={"content-type": "application/fhir+json; fhirVersion=5.0"},
        )
        assert fhir_http.status_code == 202, fhir_http.text
        huddle_http = await client.post("/v1/safety-huddles", json=huddle)
        assert huddle_http.status_code == 202, huddle_http.text
        events = await read_topic(
            kafka_bootstrap, topics.INCIDENT_OBSERVED, count=6, match=lambda m: m["value"]["incident_ref"] in refs
        )
        # Poison bodies stay in the listener's quarantine table; the dead letters carry a stub pointing there.
        held = await eventually(lambda: quarantined(pg_url, tag, 4), timeout=30)
        dead = await read_topic(
            kafka_bootstrap,
            topics.DEAD_LETTER,
            count=4,
            match=lambda m: m["headers"].get("x-dlq-quarantine-id") in held,
        )
    for d in dead:
        assert tag.encode() not in d["raw"] and d["value"]["quarantined"] is True
        d["raw"] = held[d["headers"]["x-dlq-quarantine-id"]]
    assert {d["headers"]["x-dlq-source-topic"] for d in dead} == set(good)
    bad = [d for d in dead if b"bad-" + tag.encode() in d["raw"]]
    assert bad and "severity" in bad[0]["headers"]["x-dlq-reason"]
    assert all("Invalid JSON" in d["headers"]["x-dlq-reason"] for d in dead if d not in bad)
    kinds = {(e["value"]["source_kind"], e["value"]["huddle_call"], e["value"]["harm_level"]) for e in events}
    assert {
        ("native", None, "death"),
        ("fhir", None, "severe"),
        ("fhir", None, "death"),
        ("fhir", None, "moderate"),
        ("huddle", "morning", None),
        ("huddle", "evening", None),
    } <= kinds
    for e in events:
        raw = e["raw"].decode()
        assert "NARRATIVE-SECRET" not in raw and "MRN-" not in raw and "Jane Roe" not in raw
        assert "E100" not in raw and "E300" not in raw
