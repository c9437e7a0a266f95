"""The what-if section of the rules draft page over real HTTP: the console asks a real rules service (SQLite,
300 generated incidents decided by the live handler) to try the draft on history and shows the counts in
accessible tables; CSRF-checked, coordinators only, no pseudonym on the page."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import FastAPI

from psp_rules import handlers
from tests.clock import TEST_NOW
from tests.console.conftest import Site, sign_in
from tests.console.test_rules_pages import CSRF, coordinator, editor_form, rules_site, text_of
from tests.rules.history import history

__all__ = ["rules_site"]
MODERATE = "when: {harm_levels_any: [moderate], event_classes_any: [incident]}"


async def decided(rules_app: FastAPI, n: int) -> None:
    c = rules_app.state.container
    async with c.runtime.uow() as uow:
        for ev in history(n, TEST_NOW, people=120):
            await handlers.on_incidents([ev], uow, c.config, ev.occurred_at + timedelta(hours=1))
        await uow.commit()


async def test_the_draft_page_tries_the_draft_on_history(rules_site: tuple[Site, FastAPI]) -> None:
    site, rules_app = rules_site
    await decided(rules_app, 300)
    async with coordinator(site) as c:
        csrf = CSRF.search((await c.get("/rules/default")).text)[1]  # type: ignore[index]
        await c.post("/rules/default/draft/start", data={"csrf": csrf})
        csrf, revision, source = await editor_form(c, "default")
        lowered = source.replace(MODERATE, MODERATE.replace("[moderate]", "[moderate, mild]"))
        assert lowered != source
        saved = await c.post("/rules/default/draft", data={"csrf": csrf, "revision": revision, "source": lowered})
        assert saved.status_code == 303
        page = await c.get("/rules/default/draft")
        assert 'action="/rules/default/what-if"' in page.text and "What if: the draft on past incidents" in page.text
        assert (await c.post("/rules/default/what-if", data={"months": "6"})).status_code == 403  # no CSRF
        wrong = await c.post("/rules/default/what-if", data={"csrf": csrf, "months": "5"})
        assert wrong.status_code == 422 and "Choose how many months" in text_of(wrong)
        done = await c.post("/rules/default/what-if", data={"csrf": csrf, "months": "6"})
        assert done.status_code == 200, done.text
        words = text_of(done)
        assert "Draft revision 2 on" in words and "Cases under each rule set" in words
        added = re.search(r"Cases added by the draft (\d+)", words)
        assert added and int(added[1]) > 0
        row = re.search(r"harm-moderate-incident (\d+) (\d+) (\d+) (\d+)", words)
        assert row and int(row[1]) > 0 and int(row[4]) > int(row[3])  # added; fires on more versions
        assert '<th scope="col">Active \\ Draft</th>' in done.text and "<caption" in done.text
        assert "ps_" not in done.text and "ref_" not in done.text
        fragment = await c.post(
            "/rules/default/what-if", data={"csrf": csrf, "months": "1"}, headers={"HX-Request": "true"}
        )
        assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<section id="what-if"')
        assert "<html" not in fragment.text and 'value="1" selected' in fragment.text
        await c.post("/rules/default/discard", data={"csrf": csrf})
        gone = await c.post("/rules/default/what-if", data={"csrf": csrf, "months": "6"})
        assert gone.status_code == 422 and "no draft for this rule set any more" in text_of(gone)
    async with site.client() as s:
        await sign_in(s, "supporter")
        page = await s.get("/rules")
        token = CSRF.search(page.text)
        data = {"csrf": token[1] if token else "", "months": "6"}
        assert (await s.post("/rules/default/what-if", data=data)).status_code == 403
