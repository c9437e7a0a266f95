"""Board and case pages without the services: every error state says what to do; coordinators only; actions are
CSRF-checked before any service is called; a malformed case id is a 404 page."""

from __future__ import annotations

import uuid

from tests.console.conftest import Site, sign_in

CASE = str(uuid.UUID(int=7))


async def test_the_board_says_what_to_do_when_notification_cannot_be_reached(site: Site) -> None:
    async with site.client() as c:
        await sign_in(c, "coordinator")
        page = await c.get("/board")
        fragment = await c.get("/board/rows", headers={"HX-Request": "true"})
    assert page.status_code == 200 and 'hx-trigger="every 5s"' in page.text
    assert "The notification service cannot be reached" in page.text and "tries again every few seconds" in page.text
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<section id="board"')
    assert "<html" not in fragment.text  # a fragment for htmx to swap, not a page


async def test_a_case_page_says_which_service_failed(site: Site) -> None:
    async with site.client() as c:
        await sign_in(c, "coordinator")
        r = await c.get(f"/cases/{CASE}")
        bad = await c.get("/cases/not-a-case")
    assert r.status_code == 503 and "The matching service cannot be reached" in r.text
    assert bad.status_code == 404 and "This address is not valid (case_id)" in bad.text


async def test_case_actions_need_the_csrf_token_and_a_coordinator(site: Site) -> None:
    async with site.client() as c:
        await sign_in(c, "coordinator")
        for action in ("rematch", "close"):
            r = await c.post(f"/cases/{CASE}/{action}", data={"discipline": "any"})
            assert r.status_code == 403 and "Form refused" in r.text
    async with site.client() as c:
        await sign_in(c, "analyst")
        assert (await c.get("/board")).status_code == 403
        assert (await c.get(f"/cases/{CASE}")).status_code == 403
        assert (await c.post(f"/cases/{CASE}/rematch")).status_code == 403


async def test_a_signed_out_board_poll_sends_the_page_to_sign_in(site: Site) -> None:
    async with site.client() as c:
        headers = {"HX-Request": "true", "HX-Current-URL": f"{site.console}/board"}
        r = await c.get("/board/rows", headers=headers)
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/auth/login?next=%2Fboard"  # back to the page
