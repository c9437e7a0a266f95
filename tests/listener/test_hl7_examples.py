"""HL7's own published AdverseEvent examples (fixtures/hl7, unmodified; see its README) are accepted as they are.

The JSON example is sent byte for byte. The two R5 examples exist only as XML in HL7's sources: the test converts
them with fhir.resources' XML parser (a mechanical FHIR XML -> JSON serialization, no hand edits) and sends that.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.adverseevent import AdverseEvent

from psp_common import topics
from psp_common.pseudonym import Pseudonymizer
from psp_listener.bootstrap import build
from psp_listener.settings import ListenerSettings
from tests.listener.conftest import offline_app, published, stored_text
from tests.support import auth_headers, eventually, produce, read_topic, running

HL7 = Path(__file__).parent / "fixtures" / "hl7"
R4_EXAMPLE = "r4-AdverseEvent-example.json"
R5_EXAMPLE = "r5-adverseevent-example.xml"
STAFF_ASSAULT = "r5-clinicalcare-adverseevent-clinicalcareexample2phlebotomist.xml"
EXAMPLES = (R4_EXAMPLE, R5_EXAMPLE, STAFF_ASSAULT)
FHIR = {"content-type": "application/fhir+json"}
# Narrative, patient references and the display-only staff description: none may be stored or published.
NEVER_KEPT = ("phlebotomist", "Patient/example", "itchy rash", "Levetiracetam", "14 year-old", "laceration", "Adam")


def hl7(name: str) -> bytes:
    """The example as JSON: the file itself, or the XML original serialized by fhir.resources."""
    raw = (HL7 / name).read_bytes()
    if name.endswith(".json"):
        return raw
    return AdverseEvent.model_validate_xml(raw).model_dump_json(exclude_comments=True).encode()


# (example, expected status, expected reasons without a default facility)
EXPECTED: list[tuple[str, str, list[str]]] = [
    (R4_EXAMPLE, "triaged", ["no_staff", "no_facility"]),  # subject is a Patient; no contributor, no location
    (R5_EXAMPLE, "triaged", ["no_staff", "no_facility"]),
    (STAFF_ASSAULT, "triaged", ["staff_unidentified"]),  # subject: type Practitioner, display 'phlebotomist'
]


@pytest.mark.parametrize(("name", "status", "reasons"), EXPECTED)
def test_each_hl7_example_is_accepted_over_http(api: TestClient, name: str, status: str, reasons: list[str]) -> None:
    r = api.post("/fhir/AdverseEvent", content=hl7(name), headers=FHIR)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == status
    location_unit = name == STAFF_ASSAULT  # its location display is taken as the unit; still no facility
    assert body["triage_reasons"] == reasons + (["no_facility"] if location_unit else [])
    item = api.get(f"/v1/triage/{body['triage_id']}").json()
    assert item["unit"] == ("Hospital, Inpatient" if location_unit else "unknown")
    stored = stored_text(api)
    for secret in NEVER_KEPT:
        assert secret not in stored and secret not in r.text, secret


def test_staff_assault_example_is_held_as_an_unidentified_injured_staff_member(api: TestClient) -> None:
    body = api.post("/fhir/AdverseEvent", content=hl7(STAFF_ASSAULT), headers=FHIR).json()
    item = api.get(f"/v1/triage/{body['triage_id']}").json()
    assert item["unidentified"] == ["affected"] and item["staff_identified"] == 0
    assert "serious_on_the_job_injury" in item["cis_flags"]
    assert item["category"] == "unsafe-physical-environment" and item["report_version"] == 2
    assert item["occurred_at"] == "2021-12-10T13:28:17-05:00"  # 'detected': it has no occurrence[x]
    assert item["source_id"] == "001" and item["source_system"] == "http://acme.com/ids/patients/risks"
    sent = api.post(
        f"/v1/triage/{item['id']}:dispatch",
        json={"staff": [{"staff_id": "E4242", "role": "phlebotomist", "involvement": "affected"}], "facility": "GEN"},
    )
    assert sent.status_code == 202, sent.text
    [event] = published(api)
    pseudo = Pseudonymizer.from_settings(api.app.state.runtime.settings)  # type: ignore[attr-defined]
    assert [(s["pseudonym"], s["involvement"]) for s in event["staff"]] == [(pseudo.pseudonym("E4242"), "affected")]
    assert event["facility"] == "GEN" and event["source_kind"] == "fhir"
    assert "E4242" not in json.dumps(event)


def test_with_a_default_facility_only_the_missing_staff_holds_them(sqlite_url: str) -> None:
    app = offline_app(sqlite_url, default_facility="GEN")
    with TestClient(app, headers=auth_headers(app.state.runtime.settings)) as c:
        answers = [c.post("/fhir/AdverseEvent", content=hl7(n), headers=FHIR).json() for n in EXAMPLES]
    # HL7's R4 and R5 examples carry the same identifier (acme risks|49476534): the same report to the listener.
    assert [(a["status"], a["triage_reasons"]) for a in answers] == [
        ("triaged", ["no_staff"]),
        ("duplicate", []),
        ("triaged", ["staff_unidentified"]),
    ]


def test_invalid_resource_is_refused_naming_the_element(api: TestClient) -> None:
    broken: dict[str, Any] = json.loads(hl7(STAFF_ASSAULT))
    broken["detected"] = "10 Dec 2021"
    r = api.post("/fhir/AdverseEvent", content=json.dumps(broken).encode(), headers=FHIR)
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome"
    assert "AdverseEvent.detected" in {e for i in r.json()["issue"] for e in i.get("expression", [])}
    assert "phlebotomist" not in r.text


@pytest.mark.postgres
@pytest.mark.kafka
async def test_hl7_examples_over_the_kafka_intake_topic(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    """Each example on psp.fhir.adverse-events.v1 is held (never dead-lettered); dispatch publishes one event."""
    conf = ListenerSettings(kafka_bootstrap=kafka_bootstrap, database_url=pg_url, kafka_idempotence=kafka_idempotence)
    tag = uuid.uuid4().hex[:8]
    bodies = {name: json.loads(hl7(name)) for name in EXAMPLES}
    for n, doc in enumerate(bodies.values()):  # distinct fresh ids (the R4 and R5 examples share theirs)
        doc["id"] = f"{doc['id']}-{n}-{tag}"
        doc.pop("identifier")
    async with running(build(conf)) as client:
        for doc in bodies.values():
            await produce(kafka_bootstrap, topics.FHIR_ADVERSE_EVENTS, json.dumps(doc).encode())

        async def held() -> list[dict[str, Any]] | None:
            page = (await client.get("/v1/triage", params={"limit": 10})).json()
            return page["items"] if page["total"] == 3 else None

        items = await eventually(held, timeout=60)
        assault = next(i for i in items if i["unidentified"] == ["affected"])
        staff = {"staff": [{"staff_id": "E4243", "involvement": "affected"}], "facility": "GEN"}
        first = await client.post(f"/v1/triage/{assault['id']}:dispatch", json=staff)
        again = await client.post(f"/v1/triage/{assault['id']}:dispatch", json=staff)
        assert (first.status_code, again.status_code) == (202, 200)
        [event] = await read_topic(
            kafka_bootstrap,
            topics.INCIDENT_OBSERVED,
            match=lambda m: m["value"]["incident_ref"] == assault["incident_ref"],
        )
    pseudo = Pseudonymizer.from_settings(conf)
    assert [s["pseudonym"] for s in event["value"]["staff"]] == [pseudo.pseudonym("E4243")]
    raw = event["raw"].decode()
    assert "E4243" not in raw and all(secret not in raw for secret in NEVER_KEPT)
