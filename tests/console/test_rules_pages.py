"""The rules pages over real HTTP: the console (signed in through the dev provider) calls a real rules service
with the coordinator's token. View the active set, start and edit the shared draft (problems by line, a stale
save refused), try a sample on the active rules and the draft side by side, compare, publish (CSRF, a
confirmation, audited by the rules service under the coordinator), discard; a supporter cannot open them."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from psp_rules.adapters.orm import audit_log, rulesets
from tests.clock import PinnedClock
from tests.console.conftest import Site, sign_in
from tests.console.rules_backend import console_with_rules

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REVISION = re.compile(r'name="revision" value="(\d+)"')
FALL_RULE = """  - id: any-fall
    text: Any fall on a unit
    when: {categories_any: [fall]}
    urgency: within_days
    tier: 1
"""
SAMPLE = {
    "facility": "GEN",
    "unit": "ICU",
    "event_class": "incident",
    "harm_level": "no_harm",
    "category": "fall",
    "patient_age_group": "",
    "source_kind": "native",
    "huddle_call": "",
    "staff_count": "2",
    "staff_role": "rn",
}


@pytest.fixture
async def rules_site(tmp_path: Path, idp_url: str, pinned_clock: PinnedClock) -> AsyncIterator[tuple[Site, FastAPI]]:
    async with console_with_rules(tmp_path, idp_url, pinned_clock) as both:
        yield both


@asynccontextmanager
async def coordinator(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    async with site.client() as client:
        r = await sign_in(client, "coordinator")
        assert r.status_code == 303, r.text
        yield client


def text_of(page: httpx.Response) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.text)))


async def editor_form(c: httpx.AsyncClient, scope: str) -> tuple[str, str, str]:
    page = await c.get(f"/rules/{scope}/draft")
    assert page.status_code == 200, page.text
    source = html.unescape(re.search(r'<textarea id="source"[^>]*>(.*?)</textarea>', page.text, re.S)[1])  # type: ignore[index]
    return CSRF.search(page.text)[1], REVISION.search(page.text)[1], source  # type: ignore[index]


async def test_the_active_rules_read_as_rules_and_yaml(rules_site: tuple[Site, FastAPI]) -> None:
    site, _ = rules_site
    async with coordinator(site) as c:
        index = await c.get("/rules")
        assert index.status_code == 200, index.headers
        assert "The packaged default" in text_of(index) and 'href="/rules/default"' in index.text
        assert "No facility has its own rules" in text_of(index)
        page = await c.get("/rules/default")
        words = text_of(page)
        assert "icisf-suicide-of-colleague" in words and "CIS flag is any of: suicide of colleague" in words
        assert "Immediate" in words and "3 · expedited referral" in words and "Group" in words
        assert "name: psp-default" in words  # the YAML
        assert "No version of default has been stored here yet" in words
        other = await c.get("/rules/ELSE")
        assert "ELSE has no rules of its own" in text_of(other)
        assert (await c.get("/rules/no%20such")).status_code == 404


async def test_edit_check_save_and_a_stale_save(rules_site: tuple[Site, FastAPI]) -> None:
    site, _ = rules_site
    async with coordinator(site) as c:
        csrf = CSRF.search((await c.get("/rules/default")).text)[1]  # type: ignore[index]
        assert (await c.get("/rules/default/draft")).text.count("There is no draft") == 1
        r = await c.post("/rules/default/draft/start", data={"csrf": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/rules/default/draft?notice=draft_started"
        csrf, revision, source = await editor_form(c, "default")
        assert revision == "1" and source.startswith("# Default PSP Outreach rule set")
        bad = source.replace("tier: 3", "tier: 4", 1)
        line = bad.splitlines().index("    tier: 4") + 1
        checked = await c.post(
            "/rules/default/draft", data={"csrf": csrf, "revision": revision, "source": bad, "action": "check"}
        )
        assert checked.status_code == 200
        assert f"Line {line} , rules.0.tier :" in text_of(checked)
        assert "rules.0.tier" in text_of(checked) and (await editor_form(c, "default"))[1] == "1"  # not saved
        saved = await c.post("/rules/default/draft", data={"csrf": csrf, "revision": revision, "source": bad})
        assert saved.status_code == 303
        page = await c.get("/rules/default/draft")
        assert f"Line {line}" in text_of(page) and "cannot be published until these are fixed" in text_of(page)
        stale = await c.post("/rules/default/draft", data={"csrf": csrf, "revision": "1", "source": source + FALL_RULE})
        assert stale.status_code == 409 and "Someone else saved" in text_of(stale) and "any-fall" in stale.text
        no_csrf = await c.post("/rules/default/draft", data={"revision": "2", "source": source})
        assert no_csrf.status_code == 403


async def test_a_sample_on_the_active_rules_and_the_draft_side_by_side(rules_site: tuple[Site, FastAPI]) -> None:
    site, _ = rules_site
    async with coordinator(site) as c:
        csrf = CSRF.search((await c.get("/rules/default")).text)[1]  # type: ignore[index]
        only_active = await c.post("/rules/default/dry-run", data={"csrf": csrf, **SAMPLE, "harm_level": "death"})
        assert only_active.status_code == 200
        words = text_of(only_active)
        assert "Active rules" in words and "harm-death" in words and "Would publish Yes" in words
        assert "Draft" not in re.findall(r"<h4>(\w+)", only_active.text)
        await c.post("/rules/default/draft/start", data={"csrf": csrf})
        csrf, revision, source = await editor_form(c, "default")
        await c.post("/rules/default/draft", data={"csrf": csrf, "revision": revision, "source": source + FALL_RULE})
        both = await c.post("/rules/default/dry-run", data={"csrf": csrf, **SAMPLE}, headers={"HX-Request": "true"})
        assert both.status_code == 200 and "<html" not in both.text  # an htmx fragment
        panels = re.split(r"<h4>", both.text)[1:]
        assert len(panels) == 2 and panels[0].startswith("Active rules") and panels[1].startswith("Draft")
        assert "No rule fired" in panels[0] and "any-fall" in panels[1] and "default:draft" in panels[1]
        wrong = await c.post("/rules/default/dry-run", data={"csrf": csrf, **SAMPLE, "staff_count": "0", "unit": ""})
        assert wrong.status_code == 422
        assert (
            "Give a number of staff from 1 to 50" in wrong.text
            and 'aria-invalid="true" aria-describedby="err-unit"' in wrong.text
        )


async def test_a_sample_too_old_or_historical_shows_it_would_not_be_paged(rules_site: tuple[Site, FastAPI]) -> None:
    site, _ = rules_site
    death = {**SAMPLE, "harm_level": "death"}
    async with coordinator(site) as c:
        csrf = CSRF.search((await c.get("/rules/default")).text)[1]  # type: ignore[index]
        old = text_of(await c.post("/rules/default/dry-run", data={"csrf": csrf, **death, "days_ago": "40"}))
        assert "Would not be paged (occurred more than 30 days before the decision)" in old
        assert "harm-death" in old and "Would publish No" in old and "would have: outreach requested" in old
        past = text_of(await c.post("/rules/default/dry-run", data={"csrf": csrf, **death, "historical": "on"}))
        assert "Would not be paged (historical import)" in past and "Would publish No" in past
        live = text_of(await c.post("/rules/default/dry-run", data={"csrf": csrf, **death, "days_ago": "2"}))
        assert "Would not be paged" not in live and "Would publish Yes" in live
        wrong = await c.post("/rules/default/dry-run", data={"csrf": csrf, **death, "days_ago": "-3"})
        assert wrong.status_code == 422 and "Give a number of days from 0 to 3650" in wrong.text


async def test_compare_publish_with_confirmation_audited_then_discard(rules_site: tuple[Site, FastAPI]) -> None:
    site, rules_app = rules_site
    async with coordinator(site) as c:
        csrf = CSRF.search((await c.get("/rules/default")).text)[1]  # type: ignore[index]
        missing = await c.get("/rules/default/diff?from=active&to=draft")
        assert "there is no draft" in text_of(missing) and "start a draft" in text_of(missing)
        await c.post("/rules/default/draft/start", data={"csrf": csrf})
        csrf, revision, source = await editor_form(c, "default")
        edited = (
            source.replace("text: Suicide of a colleague (ICISF top 9)", "text: Suicide of a colleague") + FALL_RULE
        )
        await c.post("/rules/default/draft", data={"csrf": csrf, "revision": revision, "source": edited})
        diff = await c.get("/rules/default/diff?from=active&to=draft")
        words = text_of(diff)
        assert "Added: any-fall" in words and "Changed: icisf-suicide-of-colleague" in words
        assert '<span class="d-add">+  - id: any-fall</span>' in diff.text
        assert '<span class="d-del">-    text: Suicide of a colleague (ICISF top 9)</span>' in diff.text
        confirm = await c.get("/rules/default/publish")
        assert "Publish revision 2 now" in confirm.text and "Added: any-fall" in text_of(confirm)
        assert (await c.post("/rules/default/publish", data={"revision": "2"})).status_code == 403  # no CSRF
        stale = await c.post("/rules/default/publish", data={"csrf": csrf, "revision": "1"})
        assert stale.status_code == 409 and "review it again" in text_of(stale)
        done = await c.post("/rules/default/publish", data={"csrf": csrf, "revision": "2"})
        assert done.status_code == 303 and done.headers["location"] == "/rules/default?notice=rules_published"
        page = await c.get(done.headers["location"])
        words = text_of(page)
        assert "now the active rule set" in words and "version default:1" in words and "any-fall" in words
        assert "Start a draft from these rules" in words  # the draft is cleared
        async with rules_app.state.container.runtime.session() as s:
            assert (await s.execute(select(rulesets.c.source))).scalar_one() == edited
            rows = (
                await s.execute(select(audit_log.c.actor, audit_log.c.action, audit_log.c.resource, audit_log.c.status))
            ).all()
        assert ("demo-coordinator", "POST", "/v1/rulesets/{scope}/draft:publish scope=default", 201) in {
            tuple(r) for r in rows
        }
        await c.post("/rules/default/draft/start", data={"csrf": csrf})
        assert "Discard the draft" in (await c.get("/rules/default/discard")).text
        gone = await c.post("/rules/default/discard", data={"csrf": csrf})
        assert gone.headers["location"] == "/rules/default?notice=draft_discarded"
        assert "There is no draft" in (await c.get("/rules/default/draft")).text
        versions = await c.get("/rules/default/diff?from=active&to=1")
        assert "No rule and no setting differs" in text_of(versions) and "identical" in text_of(versions)


async def test_a_facility_gets_its_own_rules_and_a_supporter_none(rules_site: tuple[Site, FastAPI]) -> None:
    site, _ = rules_site
    async with coordinator(site) as c:
        csrf = CSRF.search((await c.get("/rules")).text)[1]  # type: ignore[index]
        r = await c.post("/rules/new", data={"csrf": csrf, "facility": "GEN"})
        assert r.headers["location"] == "/rules/GEN/draft?notice=draft_started"
        page = await c.get(r.headers["location"])
        assert "extends_default: true" in html.unescape(page.text) and "Ready to publish" in page.text
        index = await c.get("/rules")
        assert 'href="/rules/GEN/draft">Draft being edited' in index.text
        bad = await c.post("/rules/new", data={"csrf": csrf, "facility": "no good"})
        assert bad.status_code == 422 and "Give the facility code" in text_of(bad)
        other = await c.post("/rules/GEN/dry-run", data={"csrf": csrf, **SAMPLE, "facility": "ELSE"})
        assert "The draft cannot decide this sample" in text_of(other) and "facility GEN" in text_of(other)
    async with site.client() as s:
        await sign_in(s, "supporter")
        assert (await s.get("/rules")).status_code == 403
        assert (await s.get("/rules/default/draft")).status_code == 403
        assert "Rules" not in re.findall(r'<a href="/rules">(\w+)', (await s.get("/")).text)
