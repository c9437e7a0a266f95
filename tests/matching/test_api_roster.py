"""Roster, staff directory and shift feed over HTTP (SQLite, no broker)."""

from __future__ import annotations

from typing import Any

from tests.matching.conftest import Service, body


def fields(resp: Any) -> set[str]:
    return {e["field"] for e in resp.json()["errors"]}


async def test_create_update_pause_resume_deactivate(svc: Service) -> None:
    r = await svc.client.post("/v1/supporters", json=body("S-1"))
    assert r.status_code == 201, r.text
    ref = r.json()["supporter_ref"]
    assert ref == svc.ref("S-1") and "S-1" not in ref
    again = await svc.client.post("/v1/supporters", json=body("S-1"))
    assert again.status_code == 409 and fields(again) == {"staff_id"}

    listed = (await svc.client.get("/v1/supporters")).json()
    assert len(listed) == 1
    one = listed[0]
    assert one["contact_hours"] is None and one["paused"] is False and one["active"] is True
    assert one["training"] == {"group_facilitation": False, "mental_health_credentials": False}

    upd = body(
        "S-1",
        display_name="Peer One",
        languages=["EN", "fr"],
        evaluates=["E-9"],
        contact_hours={"start": "08:00", "end": "20:00", "time_zone": "America/Toronto"},
        training={"group_facilitation": True},
    )
    del upd["staff_id"]
    r = await svc.client.put("/v1/supporters/S-1", json=upd)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["display_name"] == "Peer One" and view["languages"] == ["en", "fr"]
    assert view["evaluates"] == [svc.ref("E-9")]  # stored as pseudonyms only
    assert view["contact_hours"]["start"] == "08:00:00" and view["training"]["group_facilitation"] is True

    assert (await svc.client.post("/v1/supporters/S-1/pause")).json()["paused"] is True
    assert (await svc.client.post("/v1/supporters/S-1/resume")).json()["paused"] is False
    assert (await svc.client.post("/v1/supporters/S-1/deactivate")).json()["active"] is False
    assert (await svc.client.post("/v1/supporters/S-1/activate")).json()["active"] is True
    missing = await svc.client.post("/v1/supporters/NOPE/pause")
    assert missing.status_code == 404 and fields(missing) == {"staff_id"}
    put_missing = await svc.client.put("/v1/supporters/NOPE", json=upd)
    assert put_missing.status_code == 404


async def test_bad_supporter_bodies_name_field_and_reason(svc: Service) -> None:
    bad = body(
        "S-2",
        seniority_level=0,
        colour="red",
        contact_hours={"start": "25:00", "end": "20:00", "time_zone": "Mars/Base"},
    )
    del bad["site"]
    r = await svc.client.post("/v1/supporters", json=bad)
    assert r.status_code == 422
    got = fields(r)
    assert {"seniority_level", "<extra field>", "site", "contact_hours.start", "contact_hours.time_zone"} <= got
    assert "colour" not in r.text  # a key the caller made up is not echoed
    assert all(e["reason"] for e in r.json()["errors"])
    r = await svc.client.post("/v1/supporters", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 400


CSV_OK = (
    "staff_id,display_name,profession,seniority_level,site,languages,group_facilitation,contact_start,"
    "contact_end,contact_tz,paused\n"
    "S-10,Peer Ten,RN,4,GEN,en;fr,yes,08:00,20:00,America/Toronto,no\n"
    "S-11,Peer Eleven,physician,5,GEN,,true,,,,\n"
)


async def test_csv_import_creates_and_updates(svc: Service) -> None:
    r = await svc.client.post("/v1/supporters:import", content=CSV_OK, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    r = await svc.client.post("/v1/supporters:import", content=CSV_OK, headers={"content-type": "text/csv"})
    assert r.json()["updated"] == 2
    roster = {s["staff_id"]: s for s in (await svc.client.get("/v1/supporters")).json()}
    assert roster["S-10"]["languages"] == ["en", "fr"] and roster["S-10"]["profession"] == "rn"
    assert roster["S-10"]["contact_hours"]["time_zone"] == "America/Toronto"
    assert roster["S-11"]["training"]["group_facilitation"] is True and roster["S-11"]["contact_hours"] is None


async def test_csv_import_reports_bad_rows_by_number_and_field(svc: Service) -> None:
    text = CSV_OK + "S-12,Peer Twelve,rn,high,GEN,,maybe,,,,\nS-13,,rn,3,GEN,,,08:00,,,\n"
    r = await svc.client.post("/v1/supporters:import", content=text, headers={"content-type": "text/csv"})
    assert r.status_code == 422
    errors = {(e["row"], e["field"]) for e in r.json()["errors"]}
    assert (4, "group_facilitation") in errors  # row 4 fails on the flag before the model runs
    assert (5, "display_name") in errors and (5, "contact_end") in errors and (5, "contact_tz") in errors
    assert (await svc.client.get("/v1/supporters")).json() == []  # all or nothing
    r = await svc.client.post("/v1/supporters:import?partial=true", content=text, headers={"content-type": "text/csv"})
    assert r.status_code == 200 and r.json()["created"] == 2 and len(r.json()["errors"]) >= 3
    r = await svc.client.post(
        "/v1/supporters:import", content="staff_id,shoe_size\nS-1,9\n", headers={"content-type": "text/csv"}
    )
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "row": 1,
        "field": "shoe_size",
        "reason": "unknown column",
    }
    r = await svc.client.post("/v1/supporters:import", content=CSV_OK, headers={"content-type": "text/plain"})
    assert r.status_code == 415 and fields(r) == {"content-type"}


async def test_staff_directory_keeps_pseudonyms_only(svc: Service) -> None:
    r = await svc.client.post("/v1/staff", json={"staff_id": "E-500", "profession": "Physician", "seniority_level": 5})
    assert r.status_code == 201 and r.json()["staff_ref"] == svc.ref("E-500")
    csv_text = "staff_id,profession,seniority_level,languages\nE-501,rn,2,fr\nE-502,rn,eleven,\n"
    r = await svc.client.post("/v1/staff:import", content=csv_text, headers={"content-type": "text/csv"})
    assert r.status_code == 422 and r.json()["errors"][0]["row"] == 3
    r = await svc.client.post(
        "/v1/staff:import", content=csv_text.rsplit("E-502", 1)[0], headers={"content-type": "text/csv"}
    )
    assert r.status_code == 200
    listed = (await svc.client.get("/v1/staff")).json()
    assert {s["staff_ref"] for s in listed} == {svc.ref("E-500"), svc.ref("E-501")}
    assert "E-50" not in str(listed)


async def test_json_shifts_mark_on_shift_now(svc: Service) -> None:
    await svc.client.post("/v1/supporters", json=body("S-20"))
    await svc.client.post("/v1/supporters", json=body("S-21"))
    shifts = [
        {"staff_id": "S-20", "start": "2026-11-23T07:00:00-05:00", "end": "2026-11-23T19:00:00-05:00"},
        {"staff_id": "S-21", "start": "2026-11-22T07:00:00-05:00", "end": "2026-11-22T19:00:00-05:00"},
    ]
    r = await svc.client.post("/v1/shifts", json=shifts)
    assert r.json() == {"received": 2, "stored": 2}
    assert (await svc.client.post("/v1/shifts", json=shifts)).json()["stored"] == 0  # idempotent
    on = {s["staff_id"]: s["on_shift_now"] for s in (await svc.client.get("/v1/supporters")).json()}
    assert on == {"S-20": True, "S-21": False}
    bad = await svc.client.post(
        "/v1/shifts", json=[{"staff_id": "S-20", "start": "2026-11-23T07:00:00", "end": "2026-11-23T06:00:00-05:00"}]
    )
    assert bad.status_code == 422 and "0.start" in fields(bad)


ICAL = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:1
DTSTART;TZID=America/Toronto:20261123T070000
DTEND;TZID=America/Toronto:20261123T190000
ATTENDEE;CN=Peer:urn:psp:staff:S-30
SUMMARY:ICU day
END:VEVENT
BEGIN:VEVENT
UID:2
DTSTART:20261123T120000Z
DURATION:PT8H
SUMMARY:staff:S-31 ED
END:VEVENT
END:VCALENDAR
"""


async def test_ical_shift_feed(svc: Service) -> None:
    for sid in ("S-30", "S-31", "S-32"):
        await svc.client.post("/v1/supporters", json=body(sid))
    r = await svc.client.post("/v1/shifts:ical", content=ICAL, headers={"content-type": "text/calendar"})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 2, "stored": 2}
    on = {s["staff_id"]: s["on_shift_now"] for s in (await svc.client.get("/v1/supporters")).json()}
    assert on == {"S-30": True, "S-31": True, "S-32": False}
    floating = ICAL.replace("DTSTART:20261123T120000Z", "DTSTART:20261123T120000").replace("staff:S-31", "Lunch")
    r = await svc.client.post("/v1/shifts:ical", content=floating, headers={"content-type": "text/calendar"})
    assert r.status_code == 422
    assert {(e["row"], e["field"]) for e in r.json()["errors"]} == {(2, "ATTENDEE")}
    floating = ICAL.replace("DTSTART:20261123T120000Z", "DTSTART:20261123T120000")
    r = await svc.client.post("/v1/shifts:ical", content=floating, headers={"content-type": "text/calendar"})
    assert {(e["row"], e["field"]) for e in r.json()["errors"]} == {(2, "DTSTART")}
    r = await svc.client.post("/v1/shifts:ical", content="not a calendar", headers={"content-type": "text/calendar"})
    assert r.status_code == 422 and fields(r) == {"body"}


async def test_csv_with_bare_carriage_returns_is_parsed_not_a_500(svc: Service) -> None:
    """Regression (schemathesis): a lone CR inside a CSV line raised csv.Error -> HTTP 500."""
    r = await svc.client.post(
        "/v1/staff:import", content="staff_id\nS-CR1\rS-CR2\n", headers={"content-type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
