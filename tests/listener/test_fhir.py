"""FHIR AdverseEvent R4 / R5 intake: version detection, mapping, stripping, OperationOutcome errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from psp_common.events.intake import IncidentObserved
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel, Involvement
from psp_listener.adapters.drafts import IncidentDraft
from psp_listener.adapters.fhir import FhirVersion, detect_version, version_from_content_type
from psp_listener.domain.triage import TriageReason
from psp_listener.normalizer import Normalizer
from tests.listener.conftest import fixture, make_normalizer

FHIR = {"content-type": "application/fhir+json"}
SECRETS = ("NARRATIVE-SECRET", "MRN-", "Jane Roe", "Sam Doe", "E100", "E200", "E201", "E202", "Patient/")


def body(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource).encode()


def assert_stripped(raw: str) -> None:
    for secret in SECRETS:
        assert secret not in raw, secret


def test_r4_example_maps_and_drops_patient_and_narrative(norm: Normalizer) -> None:
    event = norm.fhir(body(fixture("adverse_event_r4.json")))
    assert (event.facility, event.unit, event.category) == ("GEN", "ICU", "wrong-dose")
    assert event.harm_level is HarmLevel.SEVERE and event.event_class is EventClass.INCIDENT
    assert event.occurred_at.isoformat() == "2026-11-23T03:40:00-05:00"
    assert event.reported_at is not None and event.report_version == 1
    assert [s.pseudonym for s in event.staff] == [norm.pseudo.pseudonym("E100")]
    assert event.staff[0].involvement is Involvement.PRIMARY
    assert_stripped(event.model_dump_json())


def test_r5_example_maps_participants_flags_and_version(norm: Normalizer) -> None:
    event = norm.fhir(body(fixture("adverse_event_r5.json")))
    assert (event.facility, event.unit) == ("CHILDRENS", "PICU")
    assert event.harm_level is HarmLevel.DEATH and event.report_version == 2
    staff = {s.pseudonym: s.involvement for s in event.staff}
    assert staff == {
        norm.pseudo.pseudonym("E200"): Involvement.PRIMARY,
        norm.pseudo.pseudonym("E201"): Involvement.WITNESS,
        norm.pseudo.pseudonym("E202"): Involvement.RESPONDER,
    }
    assert CisTrigger.SIGNIFICANT_EVENT_INVOLVING_CHILD in event.cis_flags
    assert CisTrigger.EXCESSIVE_MEDIA_INTEREST in event.cis_flags
    assert_stripped(event.model_dump_json())


def test_practitioner_subject_is_affected_staff_with_injury_flag(norm: Normalizer) -> None:
    event = norm.fhir(body(fixture("adverse_event_r5_staff_injury.json")))
    assert event.staff[0].pseudonym == norm.pseudo.pseudonym("E300")
    assert event.staff[0].involvement is Involvement.AFFECTED
    assert event.staff[1].pseudonym == norm.pseudo.pseudonym("E301")
    assert event.cis_flags[0] is CisTrigger.SERIOUS_ON_THE_JOB_INJURY
    assert CisTrigger.ASSAULT_HARASSMENT_OR_VIOLENCE in event.cis_flags
    assert (event.facility, event.unit, event.occurred_at.hour) == ("GEN", "ED", 14)


def test_potential_is_near_miss_and_fatal_outcome_is_death(norm: Normalizer) -> None:
    r4 = fixture("adverse_event_r4.json")
    r4.update(actuality="potential", severity={"coding": [{"code": "mild"}]}, outcome={"coding": [{"code": "fatal"}]})
    event = norm.fhir(body(r4))
    assert event.event_class is EventClass.NEAR_MISS and event.harm_level is HarmLevel.DEATH
    r4["date"] = "2026-11-23T03:40:00.123456789-05:00"
    assert norm.fhir(body(r4)).occurred_at.microsecond == 123456


def test_version_detection_by_header_profile_and_shape() -> None:
    r4, r5 = fixture("adverse_event_r4.json"), fixture("adverse_event_r5.json")
    assert detect_version(r4) is FhirVersion.R4
    assert detect_version(r5) is FhirVersion.R5
    r5.pop("meta")
    assert detect_version(r5) is FhirVersion.R5
    shapeless = {
        "resourceType": "AdverseEvent",
        "meta": {"profile": ["http://hl7.org/fhir/5.0/StructureDefinition/AdverseEvent"]},
    }
    assert detect_version(shapeless) is FhirVersion.R5
    assert detect_version(shapeless, FhirVersion.R4) is FhirVersion.R4
    assert version_from_content_type("application/fhir+json; fhirVersion=4.0") is FhirVersion.R4
    assert version_from_content_type('application/fhir+json;fhirVersion="5.0"') is FhirVersion.R5
    assert version_from_content_type("application/fhir+json") is None
    with pytest.raises(ValidationError):
        version_from_content_type("application/fhir+json; fhirVersion=3.0")


def test_facility_falls_back_to_configured_default_else_triage() -> None:
    r4 = fixture("adverse_event_r4.json")
    r4["location"] = {"reference": "Location/ICU", "display": "Intensive care"}
    held = make_normalizer().fhir(body(r4))
    assert isinstance(held, IncidentDraft) and held.reasons() == (TriageReason.NO_FACILITY,)
    event = make_normalizer(fhir_default_facility="GEN", fhir_default_tz="America/Toronto").fhir(body(r4))
    assert isinstance(event, IncidentObserved)
    assert (event.facility, event.unit, event.facility_tz) == ("GEN", "ICU", "America/Toronto")
    event = make_normalizer(default_facility="SITE").fhir(body(r4))
    assert isinstance(event, IncidentObserved) and event.facility == "SITE"


def test_contained_location_names_facility_and_unit(norm: Normalizer) -> None:
    r4 = fixture("adverse_event_r4.json")
    r4["contained"] = [{"resourceType": "Location", "id": "where", "name": "CHILDRENS/NICU"}]
    r4["location"] = {"reference": "#where"}
    event = norm.fhir(body(r4))
    assert isinstance(event, IncidentObserved) and (event.facility, event.unit) == ("CHILDRENS", "NICU")


def test_missing_location_takes_the_default_unit(norm: Normalizer) -> None:
    r4 = fixture("adverse_event_r4.json")
    r4.pop("location")
    r4["extension"] = [{"url": norm.settings.fhir_facility_extension, "valueCode": "GEN"}]
    event = norm.fhir(body(r4))
    assert isinstance(event, IncidentObserved) and (event.facility, event.unit) == ("GEN", "unknown")


def test_amended_resource_supersedes_over_http(client: TestClient) -> None:
    r5 = fixture("adverse_event_r5.json")
    first = client.post("/fhir/AdverseEvent", content=body(r5), headers=FHIR)
    assert first.status_code == 202, first.text
    r5["meta"]["versionId"] = "3"
    assert client.post("/fhir/AdverseEvent", content=body(r5), headers=FHIR).status_code == 202
    r5["meta"]["versionId"] = "2"
    late = client.post("/fhir/AdverseEvent", content=body(r5), headers=FHIR)
    assert late.status_code == 200 and late.json()["status"] == "superseded"
    again = client.post(
        "/fhir/AdverseEvent",
        content=body(fixture("adverse_event_r4.json")),
        headers={"content-type": "application/json"},
    )
    assert again.status_code == 202


def issues(response: Any) -> list[dict[str, Any]]:
    assert response.headers["content-type"].startswith("application/fhir+json")
    doc = response.json()
    assert doc["resourceType"] == "OperationOutcome"
    result: list[dict[str, Any]] = doc["issue"]
    return result


def test_invalid_fhir_answers_operation_outcome_naming_the_element(client: TestClient) -> None:
    r4 = fixture("adverse_event_r4.json")
    r4["date"] = "2026-13-45"
    r4["colour"] = "red"
    r = client.post("/fhir/AdverseEvent", content=body(r4), headers=FHIR)
    assert r.status_code == 422
    exprs = {e for i in issues(r) for e in i.get("expression", [])}
    assert {"AdverseEvent.date", "AdverseEvent.<extra field>"} <= exprs  # the input's own key is not echoed
    assert all(i["diagnostics"] for i in issues(r))
    assert "red" not in r.text and "colour" not in r.text and "Jane Roe" not in r.text


@pytest.mark.parametrize(
    ("mutate", "expression"),
    [
        (lambda r: r.update(date="2026-11-23T03:40:00"), "AdverseEvent.date"),
        (lambda r: r.update(date="2026-11-23"), "AdverseEvent.date"),
        (lambda r: r.update(meta={"versionId": "v2"}), "AdverseEvent.meta.versionId"),
        (lambda r: r.update(resourceType="Patient"), "AdverseEvent.resourceType"),
        (lambda r: (r.pop("id"), r.pop("identifier")), "AdverseEvent.identifier"),
        (lambda r: r.update(contributor=[{"reference": 7}]), "AdverseEvent.contributor[0].reference"),
        (lambda r: r.update(actuality=7), "AdverseEvent.actuality"),
        (lambda r: r.update(status="completed"), "AdverseEvent.contributor"),
    ],
)
def test_each_missing_or_wrong_element_is_named(client: TestClient, mutate: Any, expression: str) -> None:
    r4 = fixture("adverse_event_r4.json")
    mutate(r4)
    r = client.post("/fhir/AdverseEvent", content=body(r4), headers=FHIR)
    assert r.status_code == 422, r.text
    assert expression in {e for i in issues(r) for e in i.get("expression", [])}


def test_malformed_json_wrong_media_type_and_version_param(client: TestClient) -> None:
    r = client.post("/fhir/AdverseEvent", content=b'{"resourceType": "Adv', headers=FHIR)
    assert r.status_code == 400 and issues(r)[0]["code"] == "structure"
    r = client.post("/fhir/AdverseEvent", content=b"<AdverseEvent/>", headers={"content-type": "application/xml"})
    assert r.status_code == 415 and issues(r)[0]["code"] == "not-supported"
    r5 = body(fixture("adverse_event_r5.json"))
    as_r4 = {"content-type": "application/fhir+json; fhirVersion=4.0"}
    r = client.post("/fhir/AdverseEvent", content=r5, headers=as_r4)
    assert r.status_code == 422
    assert "AdverseEvent.participant" in {e for i in issues(r) for e in i.get("expression", [])}
    as_r5 = {"content-type": "application/fhir+json; fhirVersion=5.0"}
    r = client.post("/fhir/AdverseEvent", content=r5, headers=as_r5)
    assert r.status_code == 202
