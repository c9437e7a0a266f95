"""Rules HTTP API on SQLite (no broker): rule sets, validation errors, opt-outs and a side-effect-free dry-run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from psp_common.migrations import upgrade_async
from psp_rules.adapters.orm import case_members, cases, decisions, inbox, opt_outs, outbox, rulesets
from psp_rules.adapters.ruleset_schema import DEFAULT_FILE
from psp_rules.bootstrap import MIGRATIONS, build
from psp_rules.settings import RulesSettings
from tests.rules.helpers import OCCURRED, observed, staff
from tests.support import client_for

JSON = {"content-type": "application/json"}


@pytest.fixture
async def app_client(sqlite_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    await upgrade_async(MIGRATIONS, sqlite_url)
    app = build(RulesSettings(database_url=sqlite_url, kafka_create_topics=False))
    async with client_for(app, base_url="http://t") as client:
        yield app, client
    await app.state.container.runtime.engine.dispose()


async def row_counts(app: Any) -> dict[str, int]:
    out = {}
    async with app.state.container.runtime.session() as s:
        for t in (rulesets, opt_outs, cases, case_members, decisions, inbox, outbox):
            out[t.name] = int((await s.execute(select(func.count()).select_from(t))).scalar_one())
    return out


async def test_dry_run_explains_and_has_no_side_effects(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_client
    before = await row_counts(app)
    ev = observed(ids=("E1", "E2"), harm_level="death", patient_age_group="child")
    r = await client.post("/v1/dry-run", content=ev.model_dump_json(), headers=JSON)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {f["rule_id"] for f in body["fired"]} == {"harm-death", "harm-child-death"}
    assert body["urgency"] == "immediate" and body["tier"] == 3 and body["mode"] == "individual"
    assert any("patient_age_group=child" in w for f in body["fired"] for w in f["why"])
    assert len(body["would_publish"]) == 2 and body["ruleset_version"] == "default:packaged"
    assert await row_counts(app) == before == dict.fromkeys(before, 0)


async def test_dry_run_shows_suppression_without_storing(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_client
    assert (await client.post("/v1/opt-outs", json={"staff_id": "E1"})).status_code == 201
    before = await row_counts(app)
    ev = observed(ids=("E1",))
    body = (await client.post("/v1/dry-run", content=ev.model_dump_json(), headers=JSON)).json()
    assert body["outcome"] == "suppressed: opted out" and body["would_publish"] == []
    assert await row_counts(app) == before


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"historical": True}, "historical import"),
        ({"occurred_at": OCCURRED - timedelta(days=31)}, "occurred more than 30 days before the decision"),
    ],
)
async def test_dry_run_shows_a_historical_or_too_old_incident_would_not_be_paged(
    app_client: tuple[Any, httpx.AsyncClient], over: dict[str, Any], why: str
) -> None:
    app, client = app_client
    ev = observed(ids=("E1", "E2"), **over)
    body = (await client.post("/v1/dry-run", content=ev.model_dump_json(), headers=JSON)).json()
    assert body["not_paged"] == why and body["would_publish"] == []
    assert body["outcome"] == f"not paged ({why}); would have: outreach requested"
    assert body["urgency"] == "immediate" and {f["rule_id"] for f in body["fired"]} == {"harm-death"}  # still decided
    assert [a["kind"] for a in body["actions"]] == ["not paged", "not paged"]
    assert await row_counts(app) == dict.fromkeys(await row_counts(app), 0)
    fresh = (await client.post("/v1/dry-run", content=observed().model_dump_json(), headers=JSON)).json()
    assert fresh["not_paged"] is None and len(fresh["would_publish"]) == 1


async def test_dry_run_rejects_bad_body_with_field_and_reason(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = app_client
    body = json.loads(observed().model_dump_json())
    body["harm_level"] = "terrible"
    r = await client.post("/v1/dry-run", json=body)
    assert r.status_code == 422 and "harm_level" in {e["field"] for e in r.json()["errors"]}


async def test_rulesets_put_yaml_versions_and_get(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = app_client
    index = (await client.get("/v1/rulesets")).json()
    assert index == {"scopes": [], "default_is_packaged": True, "drafts": []}
    active = (await client.get("/v1/rulesets/default")).json()
    assert active["version"] == "default:packaged" and len(active["document"]["rules"]) >= 20
    text = DEFAULT_FILE.read_text()
    r = await client.put("/v1/rulesets/default", content=text, headers={"content-type": "application/yaml"})
    assert r.status_code == 201 and r.json()["version"] == "default:1"
    override = {
        "name": "gen",
        "extends_default": True,
        "disable": ["harm-unrated-incident"],
        "group": {"staff_more_than": 3, "units_at_least": 2},
        "rules": [
            {
                "id": "gen-falls",
                "text": "Any fall",
                "when": {"categories_any": ["fall"]},
                "urgency": "within_days",
                "tier": 1,
            }
        ],
    }
    for _ in range(2):
        r = await client.put("/v1/rulesets/GEN", json=override)
        assert r.status_code == 201, r.text
    assert r.json()["version"] == "GEN:2"
    index = (await client.get("/v1/rulesets")).json()
    got = {s["scope"]: (s["current_version"], len(s["versions"])) for s in index["scopes"]}
    assert got == {"default": (1, 1), "GEN": (2, 2)} and index["default_is_packaged"] is False
    assert (await client.get("/v1/rulesets/GEN")).json()["document"]["group"]["staff_more_than"] == 3
    assert (await client.get("/v1/rulesets/ELSE")).json()["source_scope"] == "default"
    assert (await client.get("/v1/rulesets/GEN/versions/1")).status_code == 200
    assert (await client.get("/v1/rulesets/GEN/versions/9")).status_code == 404
    ev = observed(ids=tuple(f"E{i}" for i in range(4)), harm_level="no_harm", category="fall")
    body = (await client.post("/v1/dry-run", content=ev.model_dump_json(), headers=JSON)).json()
    assert body["ruleset_version"] == "GEN:2+default:1" and body["mode"] == "group"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["rules"][0].update(urgency="soon"), "rules.0.urgency"),
        (lambda d: d["rules"][0].update(tier=4), "rules.0.tier"),
        (lambda d: d["rules"][0]["when"].update(cis_flags_any=["bad_day"]), "rules.0.when.cis_flags_any.0"),
        (lambda d: d["rules"][0].update(when={}), "rules.0.when"),
        (lambda d: d["rules"][1].update(id=d["rules"][0]["id"]), "rules"),
        (lambda d: d["rules"][0].update(colour="red"), "rules.0.<extra field>"),
        (lambda d: d.pop("rules"), "rules"),
    ],
)
async def test_invalid_ruleset_is_422_with_field_and_reason(
    app_client: tuple[Any, httpx.AsyncClient], mutate: Any, field: str
) -> None:
    app, client = app_client
    doc = yaml.safe_load(DEFAULT_FILE.read_text())
    mutate(doc)
    r = await client.put("/v1/rulesets/default", content=yaml.safe_dump(doc), headers={"content-type": "text/yaml"})
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert field in {e["field"] for e in errors} and all(e["reason"] for e in errors)
    assert (await row_counts(app))["rulesets"] == 0


async def test_ruleset_scope_checks_and_malformed_yaml(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = app_client
    base = {
        "name": "x",
        "rules": [
            {"id": "r1", "text": "abc", "when": {"harm_levels_any": ["death"]}, "urgency": "immediate", "tier": 2}
        ],
    }
    r = await client.put("/v1/rulesets/GEN", json={**base, "extends_default": True, "disable": ["nope"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "disable"
    r = await client.put("/v1/rulesets/default", json={**base, "extends_default": True})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "extends_default"
    r = await client.put("/v1/rulesets/default", content="rules: [unclosed")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body"
    r = await client.put("/v1/rulesets/bad scope!", json=base)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scope"


async def test_opt_out_registry_stores_only_pseudonyms(app_client: tuple[Any, httpx.AsyncClient]) -> None:
    app, client = app_client
    pseudo = staff("E-77")[0].pseudonym
    r = await client.post("/v1/opt-outs", json={"staff_id": "E-77"})
    assert r.status_code == 201 and r.json() == {"pseudonym": pseudo, "opted_out": True, "scopes": ["all"]}
    await client.post("/v1/opt-outs", json={"staff_id": "E-77", "scope": "GEN"})
    assert (await client.get("/v1/opt-outs/E-77")).json()["scopes"] == ["GEN", "all"]
    async with app.state.container.runtime.session() as s:
        stored = [tuple(r) for r in (await s.execute(select(opt_outs.c.pseudonym, opt_outs.c.scope))).all()]
    assert stored and all(p == pseudo for p, _ in stored) and "E-77" not in repr(stored)
    assert (await client.delete("/v1/opt-outs/E-77", params={"scope": "GEN"})).json()["scopes"] == ["all"]
    assert (await client.delete("/v1/opt-outs/E-77")).json()["opted_out"] is False
    assert (await client.get("/v1/opt-outs/E-77")).json()["opted_out"] is False
    r = await client.post("/v1/opt-outs", json={"staff_id": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "staff_id"
