"""Shared rule set drafts over HTTP (SQLite, no broker): save with revisions, validation with fields and lines,
dry-run against the draft, publish (next version, draft cleared), discard; nothing takes effect until published."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from psp_common.clock import ManualClock
from psp_common.migrations import upgrade_async
from psp_rules.adapters.ruleset_schema import DEFAULT_FILE
from psp_rules.bootstrap import MIGRATIONS, build
from psp_rules.settings import RulesSettings
from tests.clock import TEST_NOW
from tests.rules.helpers import observed
from tests.rules.test_api import row_counts
from tests.support import auth_headers

YAML = {"content-type": "application/yaml"}
JSON = {"content-type": "application/json"}
FALLS = """name: gen
extends_default: true
rules:
  - id: gen-falls
    text: Any fall on the unit
    when: {categories_any: [fall]}
    urgency: within_days
    tier: 1
"""


@pytest.fixture
async def app_client(sqlite_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    await upgrade_async(MIGRATIONS, sqlite_url)
    app = build(RulesSettings(database_url=sqlite_url, kafka_create_topics=False), clock=ManualClock(TEST_NOW))
    headers = auth_headers(app.state.runtime.settings, ["coordinator"], subject="coord-a")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client:
        yield app, client
    await app.state.container.runtime.engine.dispose()


async def test_a_saved_draft_is_shared_and_takes_no_effect_until_published(
    app_client: tuple[Any, httpx.AsyncClient],
) -> None:
    app, client = app_client
    assert (await client.get("/v1/rulesets/GEN/draft")).status_code == 404
    r = await client.put("/v1/rulesets/GEN/draft", content=FALLS, headers=YAML)
    assert r.status_code == 200, r.text
    draft = r.json()
    assert draft["revision"] == 1 and draft["valid"] is True and draft["problems"] == []
    assert draft["document"]["rules"][0]["id"] == "gen-falls"
    assert draft["updated_by"] == "coord-a" and draft["source"] == FALLS
    assert datetime.fromisoformat(draft["updated_at"]) == TEST_NOW
    other = auth_headers(app.state.runtime.settings, ["coordinator"], subject="coord-b")
    seen = (await client.get("/v1/rulesets/GEN/draft", headers=other)).json()  # a second coordinator sees it
    assert seen["source"] == FALLS and seen["revision"] == 1
    assert (await client.get("/v1/rulesets")).json()["drafts"] == ["GEN"]
    assert (await client.get("/v1/rulesets/GEN")).json()["source_scope"] == "default"  # not in effect
    assert (await row_counts(app))["rulesets"] == 0
    ev = observed(category="fall", harm_level="no_harm", facility="GEN")
    active = (await client.post("/v1/dry-run", content=ev.model_dump_json(), headers=JSON)).json()
    assert "gen-falls" not in {f["rule_id"] for f in active["fired"]}
    r = await client.post("/v1/dry-run", params={"draft": "GEN"}, content=ev.model_dump_json(), headers=JSON)
    assert r.status_code == 200, r.text
    assert "gen-falls" in {f["rule_id"] for f in r.json()["fired"]}
    assert r.json()["ruleset_version"] == "GEN:draft+default:packaged" and r.json()["would_publish"]
    assert (await row_counts(app))["cases"] == 0 and (await row_counts(app))["outbox"] == 0


async def test_a_save_over_a_newer_revision_is_refused(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = app_client
    assert (await client.put("/v1/rulesets/GEN/draft", content=FALLS, headers=YAML)).status_code == 200
    again = await client.put("/v1/rulesets/GEN/draft", content=FALLS, headers=YAML)  # "new draft" but one exists
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "revision"
    ok = await client.put("/v1/rulesets/GEN/draft", params={"revision": 1}, content=FALLS + "\n", headers=YAML)
    assert ok.status_code == 200 and ok.json()["revision"] == 2
    stale = await client.put("/v1/rulesets/GEN/draft", params={"revision": 1}, content="x: 1", headers=YAML)
    assert stale.status_code == 409
    assert (await client.get("/v1/rulesets/GEN/draft")).json()["source"] == FALLS + "\n"


async def test_an_invalid_draft_is_kept_with_each_problem_on_its_line(
    app_client: tuple[Any, httpx.AsyncClient],
) -> None:
    app, client = app_client
    bad = FALLS.replace("tier: 1", "tier: 4").replace("urgency: within_days", "urgency: soon")
    r = await client.put("/v1/rulesets/GEN/draft", content=bad, headers=YAML)
    assert r.status_code == 200 and r.json()["valid"] is False and r.json()["document"] is None
    problems = {p["field"]: p["line"] for p in r.json()["problems"]}
    assert problems == {"rules.0.urgency": 7, "rules.0.tier": 8}
    v = await client.post("/v1/rulesets/GEN/draft:validate", content=FALLS.replace("when:", "whn:"), headers=YAML)
    assert v.status_code == 200
    got = {(p["field"], p["line"]) for p in v.json()["problems"]}
    assert ("rules.0.<extra field>", 6) in got and ("rules.0.when", 4) in got
    broken = await client.post("/v1/rulesets/GEN/draft:validate", content="name: [x\nrules: 1\n", headers=YAML)
    assert broken.json()["problems"][0]["field"] == "body" and broken.json()["problems"][0]["line"] == 2
    scoped = await client.post("/v1/rulesets/default/draft:validate", content=FALLS, headers=YAML)
    assert scoped.json()["problems"] == [
        {"field": "extends_default", "reason": "the default rule set cannot extend or disable itself", "line": 2}
    ]
    good = await client.post("/v1/rulesets/GEN/draft:validate", content=FALLS, headers=YAML)
    assert good.json() == {"valid": True, "rules": 1, "problems": []}
    refused = await client.post("/v1/rulesets/GEN/draft:publish", params={"revision": 1})
    assert refused.status_code == 422 and "line 7" in refused.json()["errors"][0]["reason"]
    dry = await client.post("/v1/dry-run", params={"draft": "GEN"}, content=observed().model_dump_json(), headers=JSON)
    assert dry.status_code == 422 and dry.json()["errors"][0]["field"] == "draft"
    assert (await row_counts(app))["rulesets"] == 0


async def test_publish_stores_the_next_version_and_clears_the_draft(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = app_client
    await client.put("/v1/rulesets/GEN/draft", content=FALLS, headers=YAML)
    assert (await client.post("/v1/rulesets/GEN/draft:publish", params={"revision": 2})).status_code == 409
    r = await client.post("/v1/rulesets/GEN/draft:publish", params={"revision": 1})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == "GEN:1" and r.json()["source"] == FALLS
    assert datetime.fromisoformat(r.json()["stored_at"]) == TEST_NOW
    assert (await client.get("/v1/rulesets/GEN/draft")).status_code == 404
    active = (await client.get("/v1/rulesets/GEN")).json()
    assert active["version"] == "GEN:1" and active["source"] == FALLS
    assert (await client.post("/v1/rulesets/GEN/draft:publish", params={"revision": 1})).status_code == 409
    ev = observed(category="fall", harm_level="no_harm", facility="GEN")
    body = (await client.post("/v1/dry-run", content=ev.model_dump_json(), headers=JSON)).json()
    assert "gen-falls" in {f["rule_id"] for f in body["fired"]}


async def test_discard_and_the_draft_of_another_facility(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = app_client
    await client.put("/v1/rulesets/GEN/draft", content=FALLS, headers=YAML)
    other = observed(facility="ELSE").model_dump_json()
    r = await client.post("/v1/dry-run", params={"draft": "GEN"}, content=other, headers=JSON)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "facility"
    assert (await client.delete("/v1/rulesets/GEN/draft")).status_code == 204
    assert (await client.delete("/v1/rulesets/GEN/draft")).status_code == 404
    none = await client.post("/v1/dry-run", params={"draft": "GEN"}, content=other, headers=JSON)
    assert none.status_code == 404
    assert (await client.put("/v1/rulesets/bad%20scope/draft", content=FALLS, headers=YAML)).status_code == 422
    assert (await client.put("/v1/rulesets/GEN/draft", content=b"\xff\xfe", headers=YAML)).status_code == 400


async def test_a_default_draft_decides_under_facility_overrides(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = app_client
    packaged = (await client.get("/v1/rulesets/default")).json()
    assert packaged["source"] == DEFAULT_FILE.read_text() and packaged["stored_at"] is None
    text = DEFAULT_FILE.read_text().replace("name: psp-default", "name: psp-default-next")
    text += """  - id: default-any-fall
    text: Any fall anywhere
    when: {categories_any: [fall]}
    urgency: within_days
    tier: 1
"""
    assert (await client.put("/v1/rulesets/default/draft", content=text, headers=YAML)).json()["valid"] is True
    ev = observed(category="fall", harm_level="no_harm", facility="ELSE").model_dump_json()
    body = (await client.post("/v1/dry-run", params={"draft": "default"}, content=ev, headers=JSON)).json()
    assert body["ruleset_version"] == "default:draft" and "default-any-fall" in {f["rule_id"] for f in body["fired"]}


async def test_drafts_need_the_coordinator_role(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_client
    analyst = auth_headers(app.state.runtime.settings, ["analyst"])
    assert (await client.get("/v1/rulesets/GEN/draft", headers=analyst)).status_code == 403
    r = await client.put("/v1/rulesets/GEN/draft", content=FALLS, headers={**YAML, **analyst})
    assert r.status_code == 403
    assert (await client.post("/v1/rulesets/GEN/draft:publish?revision=1", headers=analyst)).status_code == 403
