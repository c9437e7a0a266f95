"""Triage: what the listener accepts but cannot attribute is held, then dispatched (once) or dismissed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from psp_common.pseudonym import Pseudonymizer
from tests.listener.conftest import offline_app, published, stored_text
from tests.listener.test_bad_input import NATIVE
from tests.support import auth_headers

BASE = {k: v for k, v in NATIVE.items() if k != "involved_staff"}


def submit(api: TestClient, report_id: str, **over: Any) -> dict[str, Any]:
    r = api.post("/v1/occurrence-reports", json={**BASE, "report_id": report_id, **over})
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


def test_native_report_without_staff_is_held_not_refused(api: TestClient, db: str) -> None:
    held = submit(api, "T-1", narrative="NARRATIVE-SECRET Dr Jane Roe hurt", patient={"mrn": "MRN-1"})
    assert held["status"] == "triaged" and held["triage_reasons"] == ["no_staff"] and held["event_id"] is None
    assert published(api) == []
    item = api.get(f"/v1/triage/{held['triage_id']}").json()
    assert item["status"] == "open" and item["facility"] == "GEN" and item["unit"] == "ICU"
    assert item["source_system"] == "rl6" and item["source_id"] == "T-1"
    for secret in ("NARRATIVE-SECRET", "Jane Roe", "MRN-1"):
        assert secret not in stored_text(api)


def test_missing_unit_defaults_and_missing_facility_is_held(api: TestClient, db: str) -> None:
    staff = [{"staff_id": "E100"}]
    ok = submit(api, "T-2", unit=None, involved_staff=staff)
    assert ok["status"] == "accepted" and published(api)[0]["unit"] == "unknown"
    no_site = {k: v for k, v in BASE.items() if k != "facility"}
    r = api.post("/v1/occurrence-reports", json={**no_site, "report_id": "T-3", "involved_staff": staff})
    assert r.status_code == 202 and r.json()["triage_reasons"] == ["no_facility"]


def test_default_facility_setting_applies_to_native_reports(sqlite_url: str) -> None:
    app = offline_app(sqlite_url, default_facility="SITE-A", default_unit="UNSPECIFIED")
    with TestClient(app, headers=auth_headers(app.state.runtime.settings)) as c:
        body = {k: v for k, v in NATIVE.items() if k not in ("facility", "unit")}
        assert c.post("/v1/occurrence-reports", json=body).json()["status"] == "accepted"
        assert [(e["facility"], e["unit"]) for e in published(c)] == [("SITE-A", "UNSPECIFIED")]


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_dispatch_publishes_one_pseudonymized_incident_and_is_idempotent(api: TestClient, db: str) -> None:
    held = submit(api, "T-4", harm_level="severe", cis_flags=["assault_harassment_or_violence"])
    path = f"/v1/triage/{held['triage_id']}"
    staff = {"staff": [{"staff_id": "E555", "role": "rn", "involvement": "affected"}]}
    first = api.post(f"{path}:dispatch", json=staff)
    assert first.status_code == 202, first.text
    again = api.post(f"{path}:dispatch", json=staff)
    assert again.status_code == 200 and again.json()["event_id"] == first.json()["event_id"]
    events = published(api)
    assert len(events) == 1
    event = events[0]
    pseudo = Pseudonymizer.from_settings(api.app.state.runtime.settings)  # type: ignore[attr-defined]
    assert [(s["pseudonym"], s["involvement"]) for s in event["staff"]] == [(pseudo.pseudonym("E555"), "affected")]
    assert event["event_id"] == first.json()["event_id"] and event["incident_ref"] == held["incident_ref"]
    assert event["harm_level"] == "severe" and event["facility"] == "GEN"
    assert "E555" not in json.dumps(event)
    item = api.get(path).json()
    assert (item["status"], item["decided_by"], item["attached"], item["source_id"]) == (
        "dispatched",
        "coord-7",
        1,
        None,
    )
    assert item["decided_at"] is not None
    assert api.post(f"{path}:dismiss", json={"reason": "duplicate"}).status_code == 409


def test_dismiss_records_the_reason_and_counts(api: TestClient, db: str) -> None:
    ids = [submit(api, f"T-5{i}")["triage_id"] for i in range(3)]
    assert api.post(f"/v1/triage/{ids[0]}:dismiss", json={"reason": "I just felt like it"}).status_code == 422
    r = api.post(f"/v1/triage/{ids[0]}:dismiss", json={"reason": "not_staff_related"})
    assert r.status_code == 200 and r.json()["dismiss_reason"] == "not_staff_related"
    assert r.json()["decided_by"] == "coord-7"
    assert api.post(f"/v1/triage/{ids[0]}:dismiss", json={"reason": "duplicate"}).json()["dismiss_reason"] == (
        "not_staff_related"
    )
    assert api.post(f"/v1/triage/{ids[0]}:dispatch", json={"staff": [{"staff_id": "E1"}]}).status_code == 409
    assert api.post(f"/v1/triage/{ids[1]}:dispatch", json={"staff": [{"staff_id": "E1"}]}).status_code == 202
    stats = api.get("/v1/triage/stats").json()
    assert stats["by_status"] == {"open": 1, "dismissed": 1, "dispatched": 1}
    assert stats["dismissed_by_reason"] == {"not_staff_related": 1}
    assert stats["open_by_reason"] == {"no_staff": 1} and stats["staff_attached"] == 1
    page = api.get("/v1/triage", params={"status": "open"}).json()
    assert [i["id"] for i in page["items"]] == [ids[2]] and page["total"] == 1
    assert page["counts"] == stats["by_status"]
    assert api.get("/v1/triage", params={"reason": "no_facility"}).json()["total"] == 0
    assert published(api)[0]["staff"][0]["pseudonym"] != "E1"


def test_dispatch_needs_a_facility_when_the_item_has_none(api: TestClient, db: str) -> None:
    no_site = {k: v for k, v in BASE.items() if k != "facility"}
    r = api.post("/v1/occurrence-reports", json={**no_site, "report_id": "T-6"})
    assert r.json()["triage_reasons"] == ["no_staff", "no_facility"]
    path = f"/v1/triage/{r.json()['triage_id']}:dispatch"
    missing = api.post(path, json={"staff": [{"staff_id": "E7"}]})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "facility"
    assert api.post(path, json={"staff": [{"staff_id": "E7"}], "facility": "NORTH", "unit": "OR"}).status_code == 202
    assert [(e["facility"], e["unit"]) for e in published(api)] == [("NORTH", "OR")]


def test_newer_version_supersedes_an_open_item(api: TestClient, db: str) -> None:
    held = submit(api, "T-7")
    amended = submit(api, "T-7", version=2, involved_staff=[{"staff_id": "E8"}])
    assert amended["status"] == "accepted"
    item = api.get(f"/v1/triage/{held['triage_id']}").json()
    assert item["status"] == "superseded"
    late = api.post(f"/v1/triage/{held['triage_id']}:dispatch", json={"staff": [{"staff_id": "E8"}]})
    assert late.status_code == 409 and len(published(api)) == 1


def test_triage_is_for_coordinators_only(api: TestClient) -> None:
    intake_only = auth_headers(api.app.state.runtime.settings, ["intake"])  # type: ignore[attr-defined]
    assert api.get("/v1/triage", headers=intake_only).status_code == 403
    assert api.post("/v1/triage/x:dismiss", json={"reason": "duplicate"}, headers=intake_only).status_code == 403
    assert api.get("/v1/triage/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.post("/v1/triage/nope:dismiss", json={"reason": "duplicate"}).status_code == 404
