"""SCIM 2.0 provisioning of the staff directory as Entra ID and Okta do it: create, find by filter, replace,
patch (Entra's "False" strings, paths with filters, the enterprise extension), deactivate = removed, delete,
errors as SCIM error resources that name the attribute and never echo a value, and the scim scope only."""

from __future__ import annotations

from typing import Any

import httpx

from psp_notification.adapters.scim import ENTERPRISE, ERROR, PATCH_OP, USER
from tests.notification.support import Env, app_env
from tests.rotation import AFTER, rotated
from tests.support import auth_headers

SCIM = {"content-type": "application/scim+json"}


def scim_headers(env: Env, scopes: tuple[str, ...] = ("scim",)) -> dict[str, str]:
    return {**SCIM, **auth_headers(env.c.settings, list(scopes), subject="entra-provisioning")}


def user(user_name: str = "E-10442", **over: Any) -> dict[str, Any]:
    """A User as Entra ID's provisioning service sends it."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": "aruiz",
        "userName": user_name,
        "active": True,
        "displayName": "Ana Ruiz",
        "name": {"formatted": "Ana Ruiz", "familyName": "Ruiz", "givenName": "Ana"},
        "title": "Registered nurse",
        "emails": [{"primary": True, "type": "work", "value": "ana.ruiz@gen.example.org"}],
        "phoneNumbers": [
            {"type": "work", "value": "+1 416 555 0142"},
            {"type": "mobile", "value": "+1 416 555 0999"},
            {"type": "pager", "value": "4471"},
        ],
        ENTERPRISE: {"department": "ICU 4 West", "employeeNumber": "10442"},
        **over,
    }


def patch(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(ops)}


async def send(env: Env, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
    headers = kw.pop("headers", None) or scim_headers(env)
    return await env.client.request(method, f"/scim/v2{path}", json=body, headers=headers, **kw)


async def test_scim_user_lifecycle_create_find_replace_deactivate_delete(env: Env) -> None:
    created = await send(env, "POST", "/Users", user())
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/scim+json")
    uid = created.json()["id"]
    assert created.json()["userName"] == "E-10442" and created.json()["phoneNumbers"] == [
        {"type": "work", "value": "+14165550142"},
        {"type": "pager", "value": "4471"},
    ], "the work number and the pager; never the mobile"
    entry = (await env.client.get("/v1/directory/E-10442")).json()
    assert (entry["display_name"], entry["role"], entry["unit"], entry["source"]) == (
        "Ana Ruiz",
        "Registered nurse",
        "ICU 4 West",
        "scim",
    )
    # Entra checks existence by filter before creating; a second POST is a uniqueness conflict
    found = (await send(env, "GET", "/Users", params={"filter": 'userName eq "E-10442"'})).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == uid
    assert found["Resources"][0]["userName"] == "E-10442"
    assert (await send(env, "GET", "/Users", params={"filter": 'userName eq "E-0"'})).json()["totalResults"] == 0
    dup = await send(env, "POST", "/Users", user())
    assert dup.status_code == 409 and dup.json()["scimType"] == "uniqueness" and dup.json()["schemas"] == [ERROR]
    got = (await send(env, "GET", f"/Users/{uid}")).json()
    assert got["displayName"] == "Ana Ruiz" and got["userName"] == env.c.pseudo.pseudonym("E-10442")
    replaced = await send(env, "PUT", f"/Users/{uid}", user(title="Charge nurse"))
    assert replaced.status_code == 200 and replaced.json()["title"] == "Charge nurse"
    # Entra disables a leaver with a PATCH of active = "False": removed from the directory
    off = await send(env, "PATCH", f"/Users/{uid}", patch({"op": "Replace", "path": "active", "value": "False"}))
    assert off.status_code == 204, off.text
    assert (await env.client.get("/v1/directory/E-10442")).status_code == 404
    gone = await send(env, "GET", f"/Users/{uid}")
    assert gone.status_code == 404 and gone.json() == {"schemas": [ERROR], "status": "404", "detail": "no such User"}
    again = await send(env, "POST", "/Users", user())
    assert again.status_code == 201
    assert (await send(env, "DELETE", f"/Users/{again.json()['id']}")).status_code == 204
    assert (await env.client.get("/v1/directory/E-10442")).status_code == 404
    assert (await send(env, "DELETE", f"/Users/{again.json()['id']}")).status_code == 404


async def test_scim_patch_paths_filters_and_the_enterprise_extension(env: Env) -> None:
    uid = (await send(env, "POST", "/Users", user())).json()["id"]
    r = await send(
        env,
        "PATCH",
        f"/Users/{uid}",
        patch(
            {"op": "replace", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 416 555 0150"},
            {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Emergency"},
            {"op": "replace", "value": {"title": "Nurse educator", "displayName": "Ana M. Ruiz"}},
            {"op": "remove", "path": 'phoneNumbers[type eq "pager"]'},
        ),
    )
    assert r.status_code == 200, r.text
    entry = (await env.client.get("/v1/directory/E-10442")).json()
    assert (entry["phone"], entry["unit"], entry["role"], entry["display_name"], entry["pager"]) == (
        "+14165550150",
        "Emergency",
        "Nurse educator",
        "Ana M. Ruiz",
        None,
    )
    renamed = await send(env, "PATCH", f"/Users/{uid}", patch({"op": "replace", "path": "userName", "value": "E-9"}))
    assert renamed.status_code == 400 and renamed.json()["scimType"] == "mutability"


async def test_scim_errors_name_the_attribute_never_the_value(env: Env) -> None:
    bad = await send(env, "POST", "/Users", user(phoneNumbers=[{"type": "work", "value": "555-0142"}]))
    assert bad.status_code == 400
    assert bad.json()["scimType"] == "invalidValue" and bad.json()["schemas"] == [ERROR]
    assert bad.json()["detail"].startswith('phoneNumbers[type eq "work"].value: ')
    assert "555" not in bad.text and "Ana" not in bad.text
    no_id = await send(env, "POST", "/Users", {k: v for k, v in user().items() if k != "userName"})
    assert no_id.status_code == 400 and "userName" in no_id.json()["detail"]
    ops = await send(env, "PATCH", "/Users/x", patch())
    assert ops.status_code == 404
    uid = (await send(env, "POST", "/Users", user())).json()["id"]
    assert (await send(env, "PATCH", f"/Users/{uid}", {"Operations": [{"op": "move"}]})).json()[
        "scimType"
    ] == "invalidSyntax"
    assert (await send(env, "GET", "/Users", params={"filter": 'title co "nurse"'})).json()["scimType"] == (
        "invalidFilter"
    )
    not_json = await env.client.post("/scim/v2/Users", content=b"[1", headers=scim_headers(env))
    assert not_json.status_code == 400 and not_json.json()["scimType"] == "invalidSyntax"


async def test_scim_needs_the_scim_scope_and_answers_refusals_as_scim_errors(env: Env) -> None:
    for scopes in (("coordinator",), ("supporter",), ("analyst",), ("intake",)):
        r = await send(env, "GET", "/Users", headers=scim_headers(env, scopes))
        assert r.status_code == 403 and r.json()["schemas"] == [ERROR] and r.json()["status"] == "403"
    r = await env.client.get("/scim/v2/Users", headers={"authorization": ""})
    assert r.status_code == 401 and r.json()["schemas"] == [ERROR]
    # the provisioning client cannot read what it wrote, nor anything else
    other = await env.client.get("/v1/directory/E-1", headers=scim_headers(env))
    assert other.status_code == 403


async def test_a_scim_id_survives_a_key_rotation(sqlite_url: str) -> None:
    async with app_env(sqlite_url) as before:
        uid = (await send(before, "POST", "/Users", user())).json()["id"]
    async with app_env(sqlite_url, **rotated()) as after:
        found = (await send(after, "GET", "/Users", params={"filter": 'userName eq "E-10442"'})).json()
        assert [r["id"] for r in found["Resources"]] == [uid], "found under the previous key's pseudonym"
        assert (await send(after, "POST", "/Users", user())).status_code == 409
        r = await send(after, "PUT", f"/Users/{uid}", user(title="Charge nurse"))  # moves to the current key
        assert r.status_code == 200 and r.json()["id"] == uid
        got = (await after.client.get("/v1/directory/E-10442")).json()
        assert got["staff_ref"] == AFTER.pseudonym("E-10442") and got["role"] == "Charge nurse"
