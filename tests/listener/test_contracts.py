"""Intake contracts: committed JSON Schemas equal the generated ones and cover what the PSP needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psp_listener.jsonschemas import CONTRACTS, render

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_committed_schema_is_current(name: str) -> None:
    committed = (SCHEMAS / name).read_text(encoding="utf-8")
    assert committed == render(name), f"regenerate: uv run python -m psp_listener.jsonschemas docs/schemas ({name})"


def test_occurrence_report_contract_covers_the_issue() -> None:
    schema = json.loads((SCHEMAS / "occurrence-report.v1.json").read_text())
    props = schema["properties"]
    for name in (
        "source_system",
        "report_id",
        "version",
        "facility",
        "facility_tz",
        "unit",
        "occurred_at",
        "reported_at",
        "event_class",
        "category",
        "harm_level",
        "patient",
        "involved_staff",
        "cis_flags",
        "narrative",
    ):
        assert name in props and props[name].get("description"), name
    assert set(schema["required"]) >= {"source_system", "report_id", "occurred_at", "event_class"}
    # Missing facility, unit or staff is not wrong: defaults apply or the report is held for triage.
    assert not {"facility", "unit", "involved_staff"} & set(schema["required"])
    assert "triage" in props["involved_staff"]["description"] and "triage" in props["facility"]["description"]
    assert schema["additionalProperties"] is False
    staff = schema["$defs"]["InvolvedStaff"]["properties"]
    assert {"staff_id", "role", "involvement"} <= set(staff)
    assert {"primary", "witness", "responder"} <= set(schema["$defs"]["Involvement"]["enum"])
    assert set(schema["$defs"]["HarmLevel"]["enum"]) == {"death", "severe", "moderate", "mild", "no_harm", "unknown"}


def test_huddle_contract_covers_the_issue() -> None:
    schema = json.loads((SCHEMAS / "safety-huddle-entry.v1.json").read_text())
    props = schema["properties"]
    assert props["call"]["enum"] == ["morning", "evening", "ad_hoc"]
    for name in ("facility", "unit", "huddle_at", "flags", "staff", "team_size", "note", "out_of_the_ordinary"):
        assert props[name].get("description"), name


def test_openapi_documents_every_intake(sqlite_url: str) -> None:
    from psp_listener.bootstrap import build
    from psp_listener.settings import ListenerSettings

    doc = build(ListenerSettings(database_url=sqlite_url)).openapi()
    for path in ("/v1/occurrence-reports", "/v1/safety-huddles", "/fhir/AdverseEvent"):
        assert "post" in doc["paths"][path], path
    fhir = doc["paths"]["/fhir/AdverseEvent"]["post"]
    assert "application/fhir+json" in fhir["requestBody"]["content"]
    assert "422" in fhir["responses"] and "415" in fhir["responses"]
