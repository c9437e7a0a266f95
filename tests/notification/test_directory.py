"""Staff directory: CSV and FHIR R4 Bundle imports with per-row / per-entry errors, leavers removed, lookups
under every active key, reveals audited by pseudonym, and no directory data in logs, errors or topics."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from psp_common import logs
from psp_common.rekey import rekey
from psp_notification.adapters.orm import audit_log, directory, outbox
from psp_notification.rekey import apply as rekey_notification
from psp_notification.settings import NotificationSettings
from tests.notification.support import Env, app_env
from tests.rotation import AFTER, BEFORE, retired, rotated

BUNDLE = Path(__file__).parent / "fixtures" / "directory_bundle_r4.json"
HEADER = "staff_id,display_name,role,unit,phone,pager,email\n"
CSV = HEADER + (
    "S-1,Ana Ruiz,Registered nurse,ICU 4 West,+1 416 555 0142,4471,ana.ruiz@gen.example.org\n"
    "S-2,Chinedu Okafor,Attending physician,Emergency,416-555-0177,5520,c.okafor@gen.example.org\n"
    "S-3,Maja Lindqvist,Respiratory therapist,ICU 4 West,+44 20 7946 0958,,maja.l@gen.example.org\n"
)
SECRETS = ("Ana Ruiz", "Okafor", "Lindqvist", "416", "555", "0142", "gen.example.org", "4471", "7946")
CSV_TYPE = {"content-type": "text/csv"}
FHIR_TYPE = {"content-type": "application/fhir+json"}


async def post_csv(env: Env, text: str, mode: str = "upsert") -> Any:
    return await env.client.post(f"/v1/directory/import.csv?mode={mode}", content=text.encode(), headers=CSV_TYPE)


async def post_bundle(env: Env, bundle: Any, mode: str = "upsert") -> Any:
    return await env.client.post(
        f"/v1/directory/import.fhir?mode={mode}", content=json.dumps(bundle), headers=FHIR_TYPE
    )


def bundle() -> Any:
    return json.loads(BUNDLE.read_text())


async def test_csv_import_reports_the_row_with_a_bad_phone_and_imports_the_others(env: Env) -> None:
    r = await post_csv(env, CSV)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["received"], body["created"], body["updated"], body["rejected"]) == (3, 2, 0, 1)
    assert body["errors"] == [
        {"row": 3, "column": "phone", "reason": "expected an international number: '+', country code, 8 to 15 digits"}
    ]
    assert not any(s in r.text for s in SECRETS), "an import answer never echoes a value"
    ana = (await env.client.get("/v1/directory/S-1")).json()
    assert ana["display_name"] == "Ana Ruiz" and ana["phone"] == "+14165550142" and ana["pager"] == "4471"
    assert ana["unit"] == "ICU 4 West" and ana["role"] == "Registered nurse" and ana["source"] == "csv"
    assert (await env.client.get("/v1/directory/S-2")).status_code == 404
    assert (await env.client.get("/v1/directory/S-3")).json()["phone"] == "+442079460958"
    again = (await post_csv(env, CSV)).json()
    assert (again["created"], again["updated"]) == (0, 2)


async def test_csv_header_errors_name_the_position_not_the_cell(env: Env) -> None:
    # a file without a header: its first person becomes the "header"; the answer must not echo them
    r = await post_csv(env, CSV.removeprefix(HEADER))
    assert r.status_code == 422
    assert not any(s in r.text for s in SECRETS)
    columns = {e["column"] for e in r.json()["errors"]}
    assert {"header[0]", "staff_id", "display_name"} <= columns
    bad_type = await env.client.post("/v1/directory/import.csv", content=CSV.encode(), headers=FHIR_TYPE)
    assert bad_type.status_code == 415


async def test_csv_active_false_removes_a_leaver(env: Env) -> None:
    await post_csv(env, CSV)
    r = await post_csv(env, "staff_id,display_name,active\nS-1,,false\n")
    assert r.status_code == 200 and r.json()["removed"] == 1
    assert (await env.client.get("/v1/directory/S-1")).status_code == 404


async def test_fhir_bundle_imports_two_practitioners_and_removes_the_inactive_one(env: Env) -> None:
    await post_csv(env, HEADER + "1922081167,Maja Lindqvist,RT,OR,+14165550199,,\n")  # on file before she left
    r = await post_bundle(env, bundle())
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["updated"], body["removed"], body["rejected"]) == (2, 0, 1, 0)
    ana = (await env.client.get("/v1/directory/1234567893")).json()
    assert ana == {
        **ana,
        "display_name": "RN Ana María Ruiz",
        "role": "Registered nurse, Critical care medicine",
        "unit": "ICU 4 West",
        "phone": "+14165550142;ext=3301",  # the work number, not the mobile
        "pager": "4471",
        "email": "ana.ruiz@general-hospital.example.org",  # not the home address
        "source": "fhir",
    }
    okafor = (await env.client.get("/v1/directory/1457389023")).json()
    assert (okafor["unit"], okafor["phone"], okafor["pager"]) == ("Emergency Department", "+14165550177", "5520")
    assert (await env.client.get("/v1/directory/1922081167")).status_code == 404


async def test_fhir_staff_id_comes_from_the_configured_identifier_system(sqlite_url: str) -> None:
    system = "urn:oid:2.16.840.1.113883.3.9999.1.2"
    async with app_env(sqlite_url, directory_staff_id_system=system) as env:
        assert (await post_bundle(env, bundle())).json()["created"] == 2
        assert (await env.client.get("/v1/directory/E-10442")).json()["display_name"] == "RN Ana María Ruiz"
        assert (await env.client.get("/v1/directory/1234567893")).status_code == 404


async def test_fhir_entry_errors_name_the_entry_index_and_element(env: Env) -> None:
    doc = bundle()
    doc["entry"][0]["resource"]["telecom"][1]["value"] = "555-0142"  # no country code
    doc["entry"][1]["resource"]["active"] = "sometimes"
    doc["entry"].append({"resource": {"resourceType": "Patient", "id": "p1"}})
    doc["entry"].append({"resource": {"resourceType": "PractitionerRole", "practitioner": {"reference": "x/y"}}})
    doc["entry"].append({"resource": {"resourceType": "Practitioner", "contained": [{"resourceType": "Foo"}]}})
    r = await post_bundle(env, doc)
    assert r.status_code == 200, r.text
    errors = {(e["entry"], e["element"]) for e in r.json()["errors"]}
    assert errors == {
        (0, "Practitioner.telecom[1].value"),
        (1, "Practitioner.active"),
        (6, "resource.resourceType"),
        (7, "PractitionerRole.practitioner"),
        (8, "Practitioner"),  # fhir.resources raises a KeyError on an unknown contained type: a 200, not a 500
    }
    assert not any(s in r.text for s in (*SECRETS, "sometimes"))
    assert (await post_bundle(env, {"resourceType": "Patient"})).status_code == 422
    bad = await env.client.post("/v1/directory/import.fhir", content=b"{not json", headers=FHIR_TYPE)
    assert bad.status_code == 400


async def test_replace_mode_removes_people_absent_from_the_file(env: Env) -> None:
    good = CSV.replace("416-555-0177", "+1 416 555 0177")
    assert (await post_csv(env, good)).json()["created"] == 3
    r = await post_csv(env, HEADER + "S-1,Ana Ruiz,RN,ICU,+14165550142,,\n", mode="replace")
    assert (r.json()["updated"], r.json()["removed"]) == (1, 2)
    assert (await env.client.get("/v1/directory/S-2")).status_code == 404
    assert (await env.client.get("/v1/directory/S-3")).status_code == 404
    assert (await env.client.get("/v1/directory/S-1")).status_code == 200


async def test_replace_mode_keeps_a_person_whose_row_was_rejected(env: Env) -> None:
    good = CSV.replace("416-555-0177", "+1 416 555 0177")
    await post_csv(env, good)
    r = await post_csv(env, CSV, mode="replace")  # S-2's new row is bad: S-2 stays as they were
    assert (r.json()["removed"], r.json()["rejected"]) == (0, 1)
    assert (await env.client.get("/v1/directory/S-2")).json()["phone"] == "+14165550177"
    no_id = HEADER + "S-1,Ana Ruiz,RN,ICU,+14165550142,,\n,Someone,,,+14165550100,,\n"
    r = await post_csv(env, no_id, mode="replace")  # a row without a staff id: no one can be judged absent
    assert r.json()["removed"] == 0 and {"row": -1, "column": "mode"}.items() <= r.json()["errors"][-1].items()
    assert (await env.client.get("/v1/directory/S-3")).status_code == 200


async def test_delete_removes_a_leaver(env: Env) -> None:
    await post_csv(env, CSV)
    assert (await env.client.delete("/v1/directory/S-1")).status_code == 204
    assert (await env.client.get("/v1/directory/S-1")).status_code == 404
    assert (await env.client.delete("/v1/directory/S-1")).status_code == 404


async def test_lookup_finds_an_entry_stored_before_a_key_rotation(sqlite_url: str) -> None:
    async with app_env(sqlite_url) as before:
        await post_csv(before, CSV)
    async with app_env(sqlite_url, **rotated()) as after:
        got = (await after.client.get("/v1/directory/S-1")).json()
        assert got["staff_ref"] == BEFORE.pseudonym("S-1") and got["display_name"] == "Ana Ruiz"
        # re-imported after the rotation: stored under the current key, the old copy dropped (one row a person)
        await post_csv(after, HEADER + "S-1,Ana Ruiz-Diaz,RN,ICU,+14165550142,,\n")
        got = (await after.client.get("/v1/directory/S-1")).json()
        assert got["staff_ref"] == AFTER.pseudonym("S-1") and got["display_name"] == "Ana Ruiz-Diaz"
        async with after.c.runtime.session() as s:
            refs = set((await s.execute(select(directory.c.staff_ref))).scalars())
        assert refs == {AFTER.pseudonym("S-1"), BEFORE.pseudonym("S-3")}
    settings = NotificationSettings(**rotated(database_url=sqlite_url, public_base_url="http://psp.test"))
    assert await rekey(settings, ["S-3"], rekey_notification) == {"contacts": 0, "directory": 1, "supported": 0}
    async with app_env(sqlite_url, **retired()) as retired_env:
        got = (await retired_env.client.get("/v1/directory/S-3")).json()
        assert got["staff_ref"] == AFTER.pseudonym("S-3") and got["display_name"] == "Maja Lindqvist"


async def test_a_directory_reveal_is_audited_by_pseudonym_not_name(env: Env) -> None:
    await post_csv(env, CSV)
    assert (await env.client.get("/v1/directory/S-1")).status_code == 200
    async with env.c.runtime.session() as s:
        rows = (await s.execute(select(audit_log.c.resource, audit_log.c.action))).all()
    reveal = [r.resource for r in rows if r.action == "GET" and r.resource.startswith("/v1/directory/")]
    assert reveal == [f"/v1/directory/{{staff_id}} staff_id={env.c.pseudo.pseudonym('S-1')}"]
    assert not any("S-1" in r.resource or "Ana" in r.resource for r in rows)


async def test_directory_imports_leak_nothing_into_logs_or_topics(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every service logger at DEBUG; the libraries at the levels production sets
    for name in (*logs.QUIET_LOGGERS, "httpx", "httpcore"):
        caplog.set_level(logging.WARNING, logger=name)
    assert (await post_csv(env, CSV)).json()["rejected"] == 1  # a rejected row is not logged either
    assert (await post_bundle(env, bundle(), mode="replace")).json()["removed"] == 2
    assert (await env.client.get("/v1/directory/1234567893")).status_code == 200
    assert (await env.client.delete("/v1/directory/1457389023")).status_code == 204
    secrets = (*SECRETS, "María", "Chinedu", "1234567893", "E-10442")
    assert not [m for m in caplog.messages if any(s in m for s in secrets)]
    async with env.c.runtime.session() as s:
        assert (await s.execute(select(outbox))).all() == [], "nothing published about the directory"


async def test_a_directory_upload_may_exceed_the_general_body_limit(env: Env) -> None:
    rows = "".join(f"S-{i},Person {i},RN,ICU,+1416555{i:04d},,\n" for i in range(2000))
    assert len(rows) > env.c.settings.max_body_bytes
    r = await post_csv(env, HEADER + rows)
    assert r.status_code == 200 and r.json()["created"] == 2000
    too_big = await env.client.put("/v1/contacts/S-1", content=b"x" * (env.c.settings.max_body_bytes + 1))
    assert too_big.status_code == 413, "the larger limit is the directory uploads' only"
