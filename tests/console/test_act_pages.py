"""Directory, roster and draft actions go through web.act like the case and triage actions: a service's refusal
shows the form again with the field's label and reason in the alert and beside the field (what was typed kept), an
unreachable service the error page with a retry message (503, never a 500), a done action a redirect (POST/redirect/
GET)."""

from __future__ import annotations

from typing import Any

import httpx

from psp_console.adapters.services import ServiceApi
from tests.console.conftest import Site, Staffed
from tests.console.test_roster_pages import coordinator, csrf, supporter, text_of
from tests.console.test_rules_pages import editor_form


def refusing(api: ServiceApi, method: str, path: str, status: int, body: dict[str, Any]) -> None:
    """``api`` answers ``method path`` with ``status`` and ``body``; every other call goes to the real service."""

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == method and request.url.path == path:
            return httpx.Response(status, json=body)
        async with httpx.AsyncClient(trust_env=False, timeout=10) as real:
            sent = httpx.Request(request.method, request.url, headers=request.headers, content=await request.aread())
            answer = await real.send(sent)
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    api.http = httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=10)


def field_error(field: str, reason: str) -> dict[str, Any]:
    return {"detail": "invalid", "errors": [{"field": field, "reason": reason}]}


async def test_a_refused_leaver_removal_names_the_field_and_keeps_the_id(staffed_site: Staffed) -> None:
    site = staffed_site
    backends = site.app.state.console.backends
    refusing(backends.notification, "DELETE", "/v1/directory/E-1", 422, field_error("staff_id", "not a staff id"))
    async with site.client() as c:
        token = csrf(await coordinator(site, c, "/directory"))
        r = await c.post("/directory/remove", data={"csrf": token, "staff_id": "E-1"})
    assert r.status_code == 422
    assert "Nobody was removed. Staff id: not a staff id." in text_of(r) and 'value="E-1"' in r.text
    assert '<p class="field-error" id="leaver-error">Not a staff id.</p>' in r.text  # next to the field
    assert 'aria-describedby="leaver-hint leaver-error" aria-invalid="true"' in r.text


async def test_refused_roster_actions_name_the_field_and_keep_what_was_typed(staffed_site: Staffed) -> None:
    site = staffed_site
    async with await site.coordinator() as api:
        added = await api.post(site.matching + "/v1/supporters", json=supporter("S-1", "Robin Peer"))
        assert added.status_code == 201
    matching = site.app.state.console.backends.matching
    async with site.client() as c:
        token = csrf(await coordinator(site, c))
        refusing(matching, "POST", "/v1/supporters", 422, field_error("site", "no such facility"))
        added = await c.post("/roster/add", data=supporter("S-2", "Pat Peer", site="NOPE", csrf=token))
        assert added.status_code == 422
        assert "The supporter was not added." in text_of(added) and "Facility: no such facility." in text_of(added)
        assert 'value="Pat Peer"' in added.text
        assert '<p class="field-error" id="e-site">No such facility.</p>' in added.text
        assert 'aria-describedby="h-site e-site" aria-invalid="true"' in added.text
        refusing(matching, "PATCH", "/v1/supporters/S-1", 422, field_error("contact_hours.start", "not a time"))
        saved = await c.post("/roster/S-1/edit", data=supporter("S-1", "Robin P", csrf=token))
        assert saved.status_code == 422 and "Contact hours from: not a time." in text_of(saved)
        assert 'value="Robin P"' in saved.text
        assert '<p class="field-error" id="e-contact_start">Not a time.</p>' in saved.text
        refusing(matching, "POST", "/v1/supporters/S-1/pause", 409, {"detail": "stepped away"})
        paused = await c.post("/roster/S-1/pause", data={"csrf": token})
        assert paused.status_code == 409 and "The matching service refused: stepped away." in text_of(paused)
        assert "Robin Peer (edit) S-1" in text_of(paused)  # the roster is shown again


async def test_a_refused_draft_save_names_the_field_and_keeps_the_text(staffed_site: Staffed) -> None:
    site = staffed_site
    async with site.client() as c:
        token = csrf(await coordinator(site, c, "/rules/default"))
        assert (await c.post("/rules/default/draft/start", data={"csrf": token})).status_code == 303
        token, revision, source = await editor_form(c, "default")
        refusing(
            site.app.state.console.backends.rules,
            "PUT",
            "/v1/rulesets/default/draft",
            422,
            field_error("source", "longer than 100000 characters"),
        )
        edited = source + "\n# a note of mine\n"
        r = await c.post("/rules/default/draft", data={"csrf": token, "revision": revision, "source": edited})
    assert r.status_code == 422 and "(source: longer than 100000 characters)" in text_of(r)
    assert "# a note of mine" in r.text


async def test_an_unreachable_service_says_try_again_and_is_no_500(site: Site) -> None:
    async with site.client() as c:  # every service of this site is at 127.0.0.1:9: nothing answers
        token = csrf(await coordinator(site, c, "/directory"))  # type: ignore[arg-type]
        actions = {
            "/directory/remove": {"staff_id": "E-1"},
            "/roster/add": supporter("S-2", "Pat Peer"),
            "/roster/S-1/pause": {},
            "/roster/S-1/edit": supporter("S-1", "Robin P"),
            "/rules/default/draft": {"revision": "1", "source": "name: x"},
            "/rules/default/draft/start": {},
            "/rules/default/publish": {"revision": "1"},
            "/rules/default/discard": {},
            "/rules/new": {"facility": "GEN"},
        }
        for path, form in actions.items():
            r = await c.post(path, data={"csrf": token, **form})
            assert r.status_code == 503, (path, r.status_code)
            assert "service cannot be reached" in text_of(r) and "try again in a moment" in text_of(r), path


async def test_the_consoles_own_check_of_the_supporter_form_shows_each_problem_by_its_field(
    staffed_site: Staffed,
) -> None:
    site = staffed_site
    async with site.client() as c:
        token = csrf(await coordinator(site, c))
        form = supporter("S-2", "Pat Peer", seniority_level="x", contact_start="08:00", csrf=token)
        r = await c.post("/roster/add", data=form)
    assert r.status_code == 422
    assert '<p class="field-error" id="e-seniority_level">Enter a whole number.</p>' in r.text
    assert '<p class="field-error" id="e-contact_start">Give both times (and the zone)' in r.text
    assert r.text.count('aria-invalid="true"') == 2
