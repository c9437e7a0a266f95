"""Roster and shifts pages over real HTTP: the console signed in through the dev provider, talking to a real
matching service with the coordinator's token. Rows show state, shift now and the month's load against the cap;
the forms add, edit, pause and step away; the CSV import names each bad row; the week view shows local times."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.console.conftest import HIDDEN, Staffed, sign_in

ROSTER_CSV = (
    "staff_id,display_name,profession,seniority_level,site\n"
    "S-1,Robin Peer,rn,4,GEN\n"
    "S-2,Alex Peer,rn,eleven,GEN\n"
    "S-3,Kim Peer,physician,5,GEN\n"
)


def csrf(page: httpx.Response) -> str:
    return dict(HIDDEN.findall(page.text))["csrf"]


def text_of(page: httpx.Response) -> str:
    """The page's visible text, tags dropped and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def supporter(staff_id: str, name: str, **over: object) -> dict[str, object]:
    return {"staff_id": staff_id, "display_name": name, "profession": "rn", "seniority_level": 4, "site": "GEN"} | over


async def coordinator(site: Staffed, client: httpx.AsyncClient, path: str = "/roster") -> httpx.Response:
    r = await sign_in(client, "coordinator", path)
    assert r.status_code == 303, r.text
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return page


async def roster_of(site: Staffed) -> dict[str, dict[str, Any]]:
    async with await site.coordinator() as api:
        return {s["staff_id"]: s for s in (await api.get(site.matching + "/v1/supporters")).json()}


async def test_the_roster_shows_state_shift_now_and_the_months_load_against_the_cap(staffed_site: Staffed) -> None:
    site = staffed_site
    async with await site.coordinator() as api:
        for body in (
            supporter("S-1", "Robin Peer", max_assignments_per_month=1),
            supporter("S-2", "Alex Peer"),
            supporter("S-3", "Kim Peer"),
        ):
            assert (await api.post(site.matching + "/v1/supporters", json=body)).status_code == 201
        await api.post(site.matching + "/v1/supporters/S-2/pause")
        await api.post(site.matching + "/v1/supporters/S-3/deactivate")
        shift = {"staff_id": "S-1", "start": "2026-11-23T06:00:00-05:00", "end": "2026-11-23T18:00:00-05:00"}
        assert (await api.post(site.matching + "/v1/shifts", json=[shift])).status_code == 200
    async with site.client() as c:
        text = text_of(await coordinator(site, c))
    assert "Robin Peer (edit) S-1 rn 4 GEN Active Yes 0 of 1" in text  # on shift at 07:00 Toronto; personal cap
    assert "Alex Peer (edit) S-2 rn 4 GEN Paused No 0 of 2" in text
    assert "Kim Peer (edit) S-3 rn 4 GEN Stepped away No 0 of 2" in text


async def test_an_empty_roster_says_what_to_do(staffed_site: Staffed) -> None:
    async with staffed_site.client() as c:
        text = text_of(await coordinator(staffed_site, c))
    assert "No supporters on the roster yet. Import the roster CSV or add a supporter below." in text


async def test_add_edit_pause_and_step_away_through_the_forms(staffed_site: Staffed) -> None:
    site = staffed_site
    async with site.client() as c:
        token = csrf(await coordinator(site, c))
        form = supporter("S-9", "Pat Peer", seniority_level="x", languages="EN; fr", csrf=token, evaluates="E-1")
        bad = await c.post("/roster/add", data=form)
        assert bad.status_code == 422
        assert "Seniority level: enter a whole number." in bad.text and 'value="Pat Peer"' in bad.text
        form |= {"seniority_level": "11"}
        refused = await c.post("/roster/add", data=form)  # the matching service's own check, by field
        assert (
            refused.status_code == 422 and "Seniority level: Input should be less than or equal to 10." in refused.text
        )
        added = await c.post("/roster/add", data=form | {"seniority_level": "3", "group_facilitation": "on"})
        assert added.status_code == 303 and added.headers["location"] == "/roster?notice=supporter_added"
        assert "The supporter is on the roster." in (await c.get(added.headers["location"])).text

        edit = await c.get("/roster/S-9/edit")
        assert edit.status_code == 200 and 'value="en; fr"' in edit.text and "evaluates 1 people" in edit.text
        values = dict(HIDDEN.findall(edit.text)) | supporter("S-9", "Pat Q. Peer", seniority_level="5")
        del values["staff_id"]
        saved = await c.post("/roster/S-9/edit", data=values)
        assert saved.status_code == 303, saved.text
        for action in ("pause", "step-away"):
            assert (await c.post(f"/roster/S-9/{action}", data={"csrf": token})).status_code == 303
    stored = (await roster_of(site))["S-9"]
    assert stored["display_name"] == "Pat Q. Peer" and stored["seniority_level"] == 5
    assert len(stored["evaluates"]) == 1  # kept: the edit form cannot show it, so it did not send it
    assert stored["training"] == {"group_facilitation": False, "mental_health_credentials": False}
    assert stored["paused"] is True and stored["active"] is False
    async with site.client() as c:
        token = csrf(await coordinator(site, c))
        for action in ("resume", "come-back"):
            assert (await c.post(f"/roster/S-9/{action}", data={"csrf": token})).status_code == 303
    stored = (await roster_of(site))["S-9"]
    assert stored["paused"] is False and stored["active"] is True


ODD_ID = "GEN/S 7?a=1#b%2F"  # URL-reserved characters: "/", " ", "?", "=", "#", "%"


async def test_a_staff_id_with_url_reserved_characters_can_be_edited_paused_and_stepped_away(
    staffed_site: Staffed,
) -> None:
    site = staffed_site
    async with site.client() as c:
        token = csrf(await coordinator(site, c))
        added = await c.post("/roster/add", data=supporter(ODD_ID, "Jo Peer", csrf=token))
        assert added.status_code == 303, added.text
        roster = await c.get("/roster")
        links = re.findall(r'href="(/roster/[^"]+/edit)"', roster.text)
        assert links == ["/roster/GEN%2FS%207%3Fa%3D1%23b%252F/edit"]  # one path segment, every reserved char escaped
        edit = await c.get(links[0])
        assert edit.status_code == 200 and "Staff id <strong>GEN/S 7?a=1#b%2F</strong>" in edit.text
        action = re.findall(r'<form method="post" action="(/roster/[^"]+/edit)"', edit.text)
        assert action == links
        values = dict(HIDDEN.findall(edit.text)) | supporter(ODD_ID, "Jo Q. Peer")
        del values["staff_id"]
        assert (await c.post(action[0], data=values)).status_code == 303
        forms = re.findall(r'<form method="post" action="(/roster/[^"]+/(?:pause|step-away))"', roster.text)
        assert len(forms) == 2
        for path in forms:
            assert (await c.post(path, data={"csrf": token})).status_code == 303, path
    stored = (await roster_of(site))[ODD_ID]
    assert stored["display_name"] == "Jo Q. Peer" and stored["paused"] is True and stored["active"] is False


async def test_the_edit_form_can_clear_the_evaluates_and_supervises_lists(staffed_site: Staffed) -> None:
    site = staffed_site
    async with await site.coordinator() as api:
        body = supporter("S-8", "Ash Peer", evaluates=["E-1", "E-2"], supervises=["E-3"])
        assert (await api.post(site.matching + "/v1/supporters", json=body)).status_code == 201
    async with site.client() as c:
        await coordinator(site, c)
        edit = await c.get("/roster/S-8/edit")
        assert "evaluates 2 people, supervises 1" in edit.text
        assert 'name="clear_evaluates"' in edit.text and 'name="clear_supervises"' in edit.text
        values = dict(HIDDEN.findall(edit.text)) | supporter("S-8", "Ash Peer")
        del values["staff_id"]
        both = await c.post("/roster/S-8/edit", data=values | {"clear_evaluates": "on", "evaluates": "E-9"})
        assert both.status_code == 422
        assert "Evaluates: either clear the list or enter staff ids to replace it, not both." in both.text
        assert len((await roster_of(site))["S-8"]["evaluates"]) == 2  # nothing saved
        kept = await c.post("/roster/S-8/edit", data=values)  # left empty: both kept
        assert kept.status_code == 303
        assert [len((await roster_of(site))["S-8"][k]) for k in ("evaluates", "supervises")] == [2, 1]
        cleared = await c.post("/roster/S-8/edit", data=values | {"clear_evaluates": "on"})
        assert cleared.status_code == 303, cleared.text
    stored = (await roster_of(site))["S-8"]
    assert stored["evaluates"] == [] and len(stored["supervises"]) == 1
    async with site.client() as c:
        await coordinator(site, c)
        edit = await c.get("/roster/S-8/edit")
        values = dict(HIDDEN.findall(edit.text)) | supporter("S-8", "Ash Peer")
        del values["staff_id"]
        assert (await c.post("/roster/S-8/edit", data=values | {"clear_supervises": "on"})).status_code == 303
    assert (await roster_of(site))["S-8"]["supervises"] == []


async def test_roster_forms_without_the_csrf_token_change_nothing(staffed_site: Staffed) -> None:
    site = staffed_site
    async with site.client() as c:
        await coordinator(site, c)
        r = await c.post("/roster/add", data=supporter("S-5", "Lee Peer"))
        assert r.status_code == 403 and "Reload the page" in r.text
        up = await c.post("/roster/import", files={"file": ("r.csv", ROSTER_CSV.encode(), "text/csv")})
        assert up.status_code == 403
    assert await roster_of(site) == {}


async def test_a_roster_csv_import_shows_each_bad_rows_error_beside_the_accepted_count(staffed_site: Staffed) -> None:
    site = staffed_site
    files = {"file": ("roster.csv", ROSTER_CSV.encode(), "text/csv")}
    async with site.client() as c:
        token = csrf(await coordinator(site, c))
        strict = await c.post("/roster/import", data={"csrf": token}, files=files)
        assert strict.status_code == 422
        assert "Nothing was imported : 1 problem(s)" in text_of(strict)
        assert "3 seniority_level Input should be a valid integer" in text_of(strict)
        assert await roster_of(site) == {}
        kept = await c.post("/roster/import", data={"csrf": token, "partial": "on"}, files=files)
        assert kept.status_code == 200
        text = text_of(kept)
        assert "2 row(s) imported (2 added, 0 updated); 1 problem(s) in other rows, which were skipped" in text
        assert "3 seniority_level Input should be a valid integer" in text
        assert "Robin Peer (edit) S-1" in text and "Kim Peer (edit) S-3" in text
        empty = await c.post("/roster/import", data={"csrf": token}, files={"file": ("r.csv", b"", "text/csv")})
        assert empty.status_code == 400 and "No file was chosen" in empty.text
    assert set(await roster_of(site)) == {"S-1", "S-3"}


ICAL = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:1
DTSTART;TZID=America/Toronto:20261124T190000
DTEND;TZID=America/Toronto:20261125T070000
ATTENDEE:urn:psp:staff:S-1
END:VEVENT
END:VCALENDAR
"""


async def test_shift_imports_and_the_week_in_the_facilitys_zone(staffed_site: Staffed) -> None:
    site = staffed_site
    async with await site.coordinator() as api:
        for body in (supporter("S-1", "Robin Peer"), supporter("S-2", "Alex Peer"), supporter("S-7", "Jo", site="NOR")):
            await api.post(site.matching + "/v1/supporters", json=body)
    shifts = b'[{"staff_id": "S-2", "start": "2026-11-23T12:00:00Z", "end": "2026-11-24T00:00:00Z"}]'
    async with site.client() as c:
        first = await coordinator(site, c, "/shifts")
        token = csrf(first)
        assert "No shifts this week at GEN. Import the shift feed below" in text_of(first)
        js = await c.post(
            "/shifts/import/json", data={"csrf": token}, files={"file": ("s.json", shifts, "application/json")}
        )
        assert js.status_code == 200 and "1 new shift(s) stored of 1 in the file" in text_of(js)
        ical = await c.post(
            "/shifts/import/ical", data={"csrf": token}, files={"file": ("s.ics", ICAL.encode(), "text/calendar")}
        )
        assert ical.status_code == 200, ical.text
        week = text_of(await c.get("/shifts", params={"site": "GEN", "week": "2026-11-25"}))
        assert "Shifts at GEN, week of Mon 23 Nov 2026 (times in America/Toronto)" in week
        assert "Alex Peer 07:00 to 19:00 off" in week  # 12:00-00:00 UTC is 07:00-19:00 in Toronto
        assert "Robin Peer off from 19:00 until 07:00 off" in week  # a night shift over two days
        assert "Jo" not in week  # another facility
        bad = ICAL.replace("ATTENDEE:urn:psp:staff:S-1", "SUMMARY:Night")
        refused = await c.post(
            "/shifts/import/ical", data={"csrf": token}, files={"file": ("s.ics", bad.encode(), "text/calendar")}
        )
        assert refused.status_code == 422 and "Nothing was imported" in refused.text
        assert re.search(r"<td>1</td><td>ATTENDEE</td><td>[^<]+</td>", refused.text)
        bad_json = await c.post(
            "/shifts/import/json",
            data={"csrf": token},
            files={"file": ("s.json", shifts.replace(b'Z"}', b'"}'), "application/json")},
        )
        assert bad_json.status_code == 422 and re.search(r"<td>1</td><td>end</td>", bad_json.text)


async def test_a_supporter_cannot_open_the_roster_or_shifts(staffed_site: Staffed) -> None:
    async with staffed_site.client() as c:
        await sign_in(c, "supporter")
        for path in ("/roster", "/shifts", "/directory", "/opt-outs"):
            r = await c.get(path)
            assert r.status_code == 403 and "Not for your role" in r.text
        r = await c.post("/roster/add", data={"csrf": "x"})
        assert r.status_code == 403
