"""What the coordinators' console needs from the roster API: the cap each supporter's load counts against, edits
that keep what the console cannot show (evaluates/supervises are stored as pseudonyms), and shifts in a range."""

from __future__ import annotations

from typing import Any

from tests.matching.conftest import Service, body, service_on


def fields(resp: Any) -> set[str]:
    return {e["field"] for e in resp.json()["errors"]}


async def test_each_supporter_shows_the_cap_their_month_counts_against(sqlite_url: str) -> None:
    async with service_on(sqlite_url, monthly_cap=3) as svc:
        await svc.client.post("/v1/supporters", json=body("S-1"))
        await svc.client.post("/v1/supporters", json=body("S-2", max_assignments_per_month=1))
        await svc.client.post("/v1/supporters", json=body("S-3", max_assignments_per_month=9))
        listed = {s["staff_id"]: s for s in (await svc.client.get("/v1/supporters")).json()}
        assert {k: v["monthly_cap"] for k, v in listed.items()} == {"S-1": 3, "S-2": 1, "S-3": 3}
        assert {v["assignments_this_month"] for v in listed.values()} == {0}
        paused = (await svc.client.post("/v1/supporters/S-2/pause")).json()
        assert paused["monthly_cap"] == 1 and paused["on_shift_now"] is False


async def test_patch_changes_the_fields_given_and_keeps_the_rest(svc: Service) -> None:
    full = body("S-1", evaluates=["E-1"], supervises=["E-2"], languages=["en"], max_assignments_per_month=1)
    full["contact_hours"] = {"start": "08:00", "end": "20:00", "time_zone": "America/Toronto"}
    assert (await svc.client.post("/v1/supporters", json=full)).status_code == 201
    r = await svc.client.patch("/v1/supporters/S-1", json={"display_name": "Pat Peer", "seniority_level": 5})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["display_name"] == "Pat Peer" and view["seniority_level"] == 5
    assert view["evaluates"] == [svc.ref("E-1")] and view["supervises"] == [svc.ref("E-2")]  # kept
    assert view["languages"] == ["en"] and view["contact_hours"]["time_zone"] == "America/Toronto"
    assert view["max_assignments_per_month"] == 1

    r = await svc.client.patch(
        "/v1/supporters/S-1", json={"contact_hours": None, "evaluates": [], "max_assignments_per_month": None}
    )
    view = r.json()
    assert view["contact_hours"] is None and view["evaluates"] == [] and view["max_assignments_per_month"] is None
    assert view["supervises"] == [svc.ref("E-2")] and view["monthly_cap"] == 2


async def test_a_bad_patch_names_the_field_and_changes_nothing(svc: Service) -> None:
    await svc.client.post("/v1/supporters", json=body("S-1"))
    for change, field in (({"seniority_level": 0}, "seniority_level"), ({"display_name": None}, "display_name")):
        r = await svc.client.patch("/v1/supporters/S-1", json=change)
        assert r.status_code == 422 and field in fields(r), r.text
    typo = await svc.client.patch("/v1/supporters/S-1", json={"colour": "red"})
    assert typo.status_code == 422 and fields(typo) == {"<extra field>"}
    unknown = await svc.client.patch("/v1/supporters/NOPE", json={"site": "GEN"})
    assert unknown.status_code == 404 and fields(unknown) == {"staff_id"}
    one = (await svc.client.get("/v1/supporters")).json()[0]
    assert one["seniority_level"] == 4 and one["display_name"] == "Peer S-1"


async def test_shifts_in_a_range_are_listed_by_pseudonym_earliest_first(svc: Service) -> None:
    await svc.client.post("/v1/supporters", json=body("S-20"))
    shifts = [
        {"staff_id": "S-20", "start": "2026-11-24T07:00:00-05:00", "end": "2026-11-24T19:00:00-05:00"},
        {"staff_id": "E-7", "start": "2026-11-22T19:00:00-05:00", "end": "2026-11-23T07:00:00-05:00"},
        {"staff_id": "S-20", "start": "2026-11-30T07:00:00-05:00", "end": "2026-11-30T19:00:00-05:00"},
    ]
    assert (await svc.client.post("/v1/shifts", json=shifts)).json()["stored"] == 3
    week = {"start": "2026-11-23T00:00:00-05:00", "end": "2026-11-30T00:00:00-05:00"}
    r = await svc.client.get("/v1/shifts", params=week)
    assert r.status_code == 200, r.text
    got = [(s["staff_ref"], s["start"], s["end"], s["source"]) for s in r.json()]
    assert got == [
        (svc.ref("E-7"), "2026-11-23T00:00:00Z", "2026-11-23T12:00:00Z", "json"),  # overlaps the start
        (svc.ref("S-20"), "2026-11-24T12:00:00Z", "2026-11-25T00:00:00Z", "json"),
    ]
    assert "S-20" not in r.text and "E-7" not in r.text


async def test_a_bad_shift_range_names_the_field(svc: Service) -> None:
    cases = (
        ({"start": "2026-11-23T00:00:00", "end": "2026-11-30T00:00:00Z"}, "start"),
        ({"start": "2026-11-23T00:00:00Z", "end": "2026-11-22T00:00:00Z"}, "end"),
        ({"start": "2026-11-01T00:00:00Z", "end": "2026-12-15T00:00:00Z"}, "end"),
    )
    for params, field in cases:
        r = await svc.client.get("/v1/shifts", params=params)
        assert r.status_code == 422 and fields(r) == {field}, r.text
    missing = await svc.client.get("/v1/shifts", params={"start": "2026-11-23T00:00:00Z"})
    assert missing.status_code == 422
