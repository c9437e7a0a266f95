"""Bad input: HTTP answers 4xx naming field and reason; Kafka input goes to the dead-letter topic."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from psp_common import topics
from psp_common.events.intake import IncidentObserved
from psp_common.kafka import DeadLetters, RetryTracker, deliver
from psp_listener.normalizer import Normalizer
from psp_listener.settings import ListenerSettings
from tests.listener.conftest import fixture

NATIVE: dict[str, Any] = {
    "source_system": "rl6",
    "report_id": "R-9",
    "facility": "GEN",
    "unit": "ICU",
    "occurred_at": "2026-11-23T03:00:00-05:00",
    "event_class": "incident",
    "involved_staff": [{"staff_id": "E100", "role": "rn"}],
    "narrative": "NARRATIVE-SECRET",
}
HUDDLE: dict[str, Any] = {
    "entry_id": "H-9",
    "call": "evening",
    "facility": "GEN",
    "unit": "ED",
    "huddle_at": "2026-11-23T17:00:00-05:00",
    "staff": [{"staff_id": "E100"}],
    "note": "NARRATIVE-SECRET",
}


def dumps(base: dict[str, Any], **over: Any) -> bytes:
    return json.dumps({**base, **over}).encode()


def without(base: dict[str, Any], key: str) -> bytes:
    return json.dumps({k: v for k, v in base.items() if k != key}).encode()


R4 = fixture("adverse_event_r4.json")
# (intake path, topic, body, field named in the error)
CASES: list[tuple[str, str, bytes, str]] = [
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, b'{"source_system": "rl6",', ""),
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, b"\xff\xfe\x00garbage", ""),
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, dumps(NATIVE, version="two"), "version"),
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, dumps(NATIVE, severity="x"), "<extra field>"),
    # Missing staff, facility or unit is held for triage (test_triage.py); a wrong value is still refused.
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, dumps(NATIVE, involved_staff="E100"), "involved_staff"),
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, dumps(NATIVE, facility=""), "facility"),
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, dumps(NATIVE, unit=7), "unit"),
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, dumps(NATIVE, facility_tz="EST5EDT/Nope"), "facility_tz"),
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, dumps(NATIVE, occurred_at="2026-11-23T03:00"), "occurred_at"),
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, b"[1, 2, 3]", "body"),
    ("/v1/safety-huddles", topics.SAFETY_HUDDLES, b"{not json", ""),
    ("/v1/safety-huddles", topics.SAFETY_HUDDLES, dumps(HUDDLE, call=3), "call"),
    ("/v1/safety-huddles", topics.SAFETY_HUDDLES, dumps(HUDDLE, mood="sad"), "<extra field>"),
    ("/v1/safety-huddles", topics.SAFETY_HUDDLES, dumps(HUDDLE, staff=[]), "body"),
    ("/v1/safety-huddles", topics.SAFETY_HUDDLES, dumps(HUDDLE, facility_tz="Nowhere/Land"), "facility_tz"),
    ("/v1/safety-huddles", topics.SAFETY_HUDDLES, dumps(HUDDLE, huddle_at="yesterday"), "huddle_at"),
    ("/fhir/AdverseEvent", topics.FHIR_ADVERSE_EVENTS, b'{"resourceType":', ""),
    ("/fhir/AdverseEvent", topics.FHIR_ADVERSE_EVENTS, dumps(R4, actuality=["actual"]), "AdverseEvent.actuality"),
    ("/fhir/AdverseEvent", topics.FHIR_ADVERSE_EVENTS, dumps(R4, secret="x"), "AdverseEvent.<extra field>"),
    ("/fhir/AdverseEvent", topics.FHIR_ADVERSE_EVENTS, dumps(R4, contributor="E100"), "AdverseEvent.contributor"),
    ("/fhir/AdverseEvent", topics.FHIR_ADVERSE_EVENTS, dumps(R4, date="2026-11-23T03:40:00"), "AdverseEvent.date"),
    ("/fhir/AdverseEvent", topics.FHIR_ADVERSE_EVENTS, b'"AdverseEvent"', "AdverseEvent"),
]


def named_fields(path: str, response: Any) -> set[str]:
    doc = response.json()
    if response.status_code == 400 and not path.startswith("/fhir"):
        assert doc["detail"] == "malformed JSON"
    if path.startswith("/fhir"):
        assert doc["resourceType"] == "OperationOutcome"
        assert all(i["diagnostics"] for i in doc["issue"])
        return {e for i in doc["issue"] for e in i.get("expression", [""])}
    assert all(e["reason"] for e in doc["errors"])
    return {e["field"] for e in doc["errors"]}


@pytest.mark.parametrize(("path", "topic", "payload", "field_name"), CASES)
def test_http_rejects_with_field_and_reason(
    client: TestClient, path: str, topic: str, payload: bytes, field_name: str
) -> None:
    r = client.post(path, content=payload, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    fields = named_fields(path, r)
    if field_name:  # malformed JSON (400) names a position, not a field
        assert field_name in fields
    else:
        assert r.status_code == 400
    assert "NARRATIVE-SECRET" not in r.text and "Jane Roe" not in r.text


def test_oversize_bodies_are_413_on_every_intake(client: TestClient) -> None:
    big = dumps(NATIVE, narrative="x" * 100_000)
    for path in ("/v1/occurrence-reports", "/v1/safety-huddles", "/fhir/AdverseEvent"):
        r = client.post(path, content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["errors"][0]["field"] == "body"


@dataclass
class Record:
    value: bytes
    topic: str
    partition: int = 0
    offset: int = 7
    key: bytes | None = None


@dataclass
class FakeMessage:
    raw_message: Record


@dataclass
class FakeDeadLetters:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, body: bytes, **meta: Any) -> None:
        self.sent.append({"body": body, **meta})


PARSERS = {
    topics.OCCURRENCE_REPORTS: Normalizer.parse_native,
    topics.SAFETY_HUDDLES: Normalizer.parse_huddle,
    topics.FHIR_ADVERSE_EVENTS: Normalizer.parse_fhir,
}


@pytest.mark.parametrize(("path", "topic", "payload", "field_name"), CASES)
async def test_kafka_input_is_dead_lettered_with_reason(
    norm: Normalizer, path: str, topic: str, payload: bytes, field_name: str
) -> None:
    handled: list[IncidentObserved] = []

    async def handle(event: IncidentObserved) -> None:
        handled.append(event)

    dead = FakeDeadLetters()
    parse = PARSERS[topic].__get__(norm)
    await deliver(
        FakeMessage(Record(payload, topic)),
        parse=parse,
        handle=handle,  # type: ignore[arg-type]
        dead_letters=dead,
        tracker=RetryTracker(),
        settings=ListenerSettings(),  # type: ignore[arg-type]
    )
    assert handled == [] and len(dead.sent) == 1
    sent = dead.sent[0]
    assert sent["body"] == payload and sent["source_topic"] == topic and sent["attempts"] == 1
    assert sent["reason"].startswith("validation failed")
    named = field_name.removeprefix("AdverseEvent.").split(".")[0]
    assert named in sent["reason"] or field_name in ("", "body", "AdverseEvent")
    assert "NARRATIVE-SECRET" not in sent["reason"]


SECRET_KEY = "patient_ssn_123-45-6789"
FHIR_R5 = fixture("adverse_event_r5.json")
# An extra key chosen by the sender, at the top and nested, in every intake format.
KEYED: list[tuple[str, str, bytes, str]] = [
    ("/v1/occurrence-reports", topics.OCCURRENCE_REPORTS, dumps(NATIVE, **{SECRET_KEY: 1}), "<extra field>"),
    (
        "/v1/occurrence-reports",
        topics.OCCURRENCE_REPORTS,
        dumps(NATIVE, involved_staff=[{"staff_id": "E100", SECRET_KEY: "x"}], patient={SECRET_KEY: "x"}),
        "involved_staff.0.<extra field>",
    ),
    ("/v1/safety-huddles", topics.SAFETY_HUDDLES, dumps(HUDDLE, **{SECRET_KEY: True}), "<extra field>"),
    ("/fhir/AdverseEvent", topics.FHIR_ADVERSE_EVENTS, dumps(R4, **{SECRET_KEY: 1}), "AdverseEvent.<extra field>"),
    (
        "/fhir/AdverseEvent",
        topics.FHIR_ADVERSE_EVENTS,
        dumps(FHIR_R5, participant=[{"actor": {"reference": "Practitioner/E1", SECRET_KEY: 1}}]),
        "AdverseEvent.participant[0].actor.<extra field>",
    ),
]


@dataclass
class RecordingBroker:
    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, payload: bytes, topic: str, **meta: Any) -> None:
        self.published.append({"payload": payload, "topic": topic, **meta})


@pytest.mark.parametrize(("path", "topic", "payload", "field_name"), KEYED)
async def test_a_key_chosen_by_the_sender_is_never_echoed(
    client: TestClient,
    norm: Normalizer,
    caplog: pytest.LogCaptureFixture,
    path: str,
    topic: str,
    payload: bytes,
    field_name: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    r = client.post(path, content=payload, headers={"content-type": "application/json"})
    assert r.status_code == 422 and field_name in named_fields(path, r)
    assert SECRET_KEY not in r.text
    broker, held = RecordingBroker(), []

    async def quarantine(body: bytes, headers: dict[str, str]) -> str:
        held.append(dict(headers))
        return "q-1"

    dead = DeadLetters(broker, "listener", quarantine=quarantine)  # type: ignore[arg-type]
    await deliver(
        FakeMessage(Record(payload, topic)),
        parse=PARSERS[topic].__get__(norm),
        handle=None,  # type: ignore[arg-type]
        dead_letters=dead,
        tracker=RetryTracker(),
        settings=ListenerSettings(),  # type: ignore[arg-type]
    )
    [sent] = broker.published
    reason = sent["headers"]["x-dlq-reason"]
    assert "<extra field>" in reason and reason == held[0]["x-dlq-reason"]  # the quarantine row's reason too
    assert SECRET_KEY not in json.dumps(sent["headers"]) and SECRET_KEY.encode() not in sent["payload"]
    assert SECRET_KEY not in caplog.text
