"""Directory and opt-out pages over real HTTP against real notification and rules services: imports report each bad
row (never a value), a leaver is removed by staff id, opt-outs work one person at a time and show only the pseudonym
and scopes; no page lists names."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import httpx

from tests.console.conftest import Staffed
from tests.console.test_roster_pages import coordinator, csrf, text_of

BUNDLE = Path(__file__).resolve().parents[1] / "notification" / "fixtures" / "directory_bundle_r4.json"
CSV = (
    "staff_id,display_name,role,unit,phone,pager,email\n"
    "E-1,Ana Ruiz,Registered nurse,ICU,+1 416 555 0142,4471,ana.ruiz@gen.example.org\n"
    "E-2,Chinedu Okafor,Physician,ED,416-555-0177,5520,c.okafor@gen.example.org\n"
)
VALUES = ("Ana Ruiz", "Okafor", "0142", "0177", "gen.example.org", "4471")


async def lookup(site: Staffed, staff_id: str) -> int:
    async with await site.coordinator() as api:
        return (await api.get(f"{site.notification}/v1/directory/{staff_id}")).status_code


async def test_a_directory_csv_import_reports_the_bad_row_and_shows_no_values(staffed_site: Staffed) -> None:
    site = staffed_site
    async with site.client() as c:
        empty = await coordinator(site, c, "/directory")
        token = csrf(empty)
        r = await c.post(
            "/directory/import",
            data={"csrf": token, "format": "csv", "mode": "upsert"},
            files={"file": ("d.csv", CSV.encode(), "text/csv")},
        )
    assert r.status_code == 200, r.text
    text = text_of(r)
    assert "1 people stored (1 added, 0 updated, 0 removed) of 2 in the file; 1 rejected (below)" in text
    assert "3 phone expected an international number" in text
    assert not any(v in r.text for v in VALUES)
    assert await lookup(site, "E-1") == 200 and await lookup(site, "E-2") == 404


async def test_a_fhir_bundle_import_and_a_bundle_with_nothing_usable(staffed_site: Staffed) -> None:
    site = staffed_site
    bundle = BUNDLE.read_bytes()
    async with site.client() as c:
        token = csrf(await coordinator(site, c, "/directory"))
        form = {"csrf": token, "format": "fhir", "mode": "upsert"}
        ok = await c.post("/directory/import", data=form, files={"file": ("b.json", bundle, "application/json")})
        assert ok.status_code == 200 and "2 people stored (2 added" in text_of(ok)
        assert "Ana" not in ok.text
        doc = json.loads(bundle)
        doc["entry"] = [{"resource": {"resourceType": "Patient", "id": "p1"}}]
        none = await c.post(
            "/directory/import", data=form, files={"file": ("b.json", json.dumps(doc).encode(), "application/json")}
        )
        assert none.status_code == 422
        text = text_of(none)
        assert "Nothing was imported : no row could be used" in text and "0 resource.resourceType" in text
    assert await lookup(site, "1234567893") == 200


async def test_a_leaver_is_removed_by_staff_id_and_an_unknown_id_says_what_to_do(staffed_site: Staffed) -> None:
    site = staffed_site
    async with await site.coordinator() as api:
        r = await api.post(
            site.notification + "/v1/directory/import.csv", content=CSV.encode(), headers={"content-type": "text/csv"}
        )
        assert r.status_code == 200
    async with site.client() as c:
        token = csrf(await coordinator(site, c, "/directory"))
        gone = await c.post("/directory/remove", data={"csrf": token, "staff_id": "E-1"})
        assert gone.status_code == 303 and gone.headers["location"] == "/directory?notice=leaver_removed"
        again = await c.post("/directory/remove", data={"csrf": token, "staff_id": "E-1"})
        assert again.status_code == 404 and "No one with that staff id is in the directory. Check the id" in again.text
        blank = await c.post("/directory/remove", data={"csrf": token, "staff_id": " "})
        assert blank.status_code == 422 and "enter the staff id" in blank.text
        refused = await c.post("/directory/remove", data={"staff_id": "E-1"})
        assert refused.status_code == 403
    assert await lookup(site, "E-1") == 404


async def opt(c: httpx.AsyncClient, token: str, action: str, staff_id: str, scope: str = "") -> httpx.Response:
    return await c.post(f"/opt-outs/{action}", data={"csrf": token, "staff_id": staff_id, "scope": scope})


async def test_opt_outs_by_staff_id_show_the_pseudonym_and_scopes_only(staffed_site: Staffed) -> None:
    site = staffed_site
    async with await site.coordinator() as api:
        expected = (await api.get(site.rules + "/v1/opt-outs/E-77")).json()["pseudonym"]
    async with site.client() as c:
        token = csrf(await coordinator(site, c, "/opt-outs"))
        out = await opt(c, token, "add", "E-77", "all")
        assert out.status_code == 200
        assert f"Opted out of all. Pseudonym {expected} Opted out of all" in text_of(out)
        assert "E-77" not in out.text  # the page shows what the rules service holds, not the id typed
        await opt(c, token, "add", "E-77", "GEN")
        checked = text_of(await opt(c, token, "check", "E-77"))
        assert f"Checked. Pseudonym {expected} Opted out of GEN, all" in checked
        back = text_of(await opt(c, token, "remove", "E-77", "GEN"))
        assert "Opted back in to GEN." in back and "Opted out of all" in back
        back = text_of(await opt(c, token, "remove", "E-77"))
        assert "Opted back in everywhere." in back and "nothing: outreach may be offered" in back
        bad = await opt(c, token, "add", "E-77", "no spaces allowed")
        assert bad.status_code == 422 and "Nothing was changed. Scope:" in bad.text
        blank = await opt(c, token, "check", "")
        assert blank.status_code == 422 and "Staff id: enter the person" in blank.text
    async with await site.coordinator() as api:
        assert (await api.get(site.rules + "/v1/opt-outs/E-77")).json()["scopes"] == []


async def test_a_staff_id_with_a_slash_is_removed_checked_and_opted_back_in(staffed_site: Staffed) -> None:
    site, odd = staffed_site, "GEN/E-5?x#%"
    row = f'"{odd}",Sam Lee,Registered nurse,ICU,+1 416 555 0100,4400,s.lee@gen.example.org\n'
    async with await site.coordinator() as api:
        r = await api.post(
            site.notification + "/v1/directory/import.csv",
            content=(CSV.splitlines()[0] + "\n" + row).encode(),
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 200 and r.json()["created"] == 1 and r.json()["errors"] == [], r.text
    assert await lookup(site, quote(odd, safe="")) == 200
    async with site.client() as c:
        token = csrf(await coordinator(site, c, "/directory"))
        gone = await c.post("/directory/remove", data={"csrf": token, "staff_id": odd})
        assert gone.status_code == 303, gone.text
        await opt(c, token, "add", odd, "all")
        assert "Opted out of all" in text_of(await opt(c, token, "check", odd))
        assert "Opted back in everywhere." in text_of(await opt(c, token, "remove", odd))
    assert await lookup(site, quote(odd, safe="")) == 404
