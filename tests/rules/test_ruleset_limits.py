"""Rule-set validation is bounded: size, nesting, rules, list and string lengths (400/422 naming the field)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import yaml

from psp_common.migrations import upgrade_async
from psp_rules.adapters.ruleset_schema import MAX_DOCUMENT_CHARS, MAX_RULES, BadDocument, load_text
from psp_rules.bootstrap import MIGRATIONS, build
from psp_rules.settings import RulesSettings
from tests.support import client_for

YAML = {"content-type": "text/yaml"}


def rule(i: int, **when: Any) -> dict[str, Any]:
    return {
        "id": f"r{i:04d}",
        "text": "a rule",
        "when": when or {"harm_levels_any": ["death"]},
        "urgency": "immediate",
        "tier": 2,
    }


def doc(**over: Any) -> dict[str, Any]:
    return {"name": "bounded", "rules": [rule(1)], **over}


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    await upgrade_async(MIGRATIONS, sqlite_url)
    app = build(RulesSettings(database_url=sqlite_url, kafka_create_topics=False, max_body_bytes=1024 * 1024))
    async with client_for(app, ["coordinator"], base_url="http://t") as c:
        yield c
    await app.state.container.runtime.engine.dispose()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (doc(rules=[rule(i) for i in range(MAX_RULES + 1)]), "rules"),
        (doc(rules=[rule(1, categories_any=["x" * 65])]), "rules.0.when.categories_any.0"),
        (doc(rules=[rule(1, categories_any=[f"c{i}" for i in range(101)])]), "rules.0.when.categories_any"),
        (doc(rules=[rule(1, cis_flags_any=["death_of_a_child"] * 101)]), "rules.0.when.cis_flags_any"),
        (doc(rules=[rule(1, staff_more_than=10**9)]), "rules.0.when.staff_more_than"),
        (doc(extends_default=True, disable=[f"r{i:04d}" for i in range(MAX_RULES + 1)]), "disable"),
        (doc(extends_default=True, disable=["NOT A RULE ID"]), "disable.0"),
        (doc(group={"staff_more_than": 3, "units_at_least": 10**6}), "group.units_at_least"),
    ],
    ids=["rules", "category-length", "categories", "flags", "staff", "disable", "disable-id", "units"],
)
async def test_an_oversized_rule_set_is_422_naming_the_field(
    client: httpx.AsyncClient, document: dict[str, Any], field: str
) -> None:
    r = await client.put("/v1/rulesets/GEN", content=yaml.safe_dump(document), headers=YAML)
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "name: " + "{a: " * 20_000,
        "- " * 30_000 + "x",
        "rules:\n" + "".join(f"{' ' * i}- \n" for i in range(40)),
    ],
    ids=["flow-list", "flow-map", "block-list", "indented"],
)
async def test_a_rule_set_nested_too_deep_is_400_not_a_crash(client: httpx.AsyncClient, text: str) -> None:
    r = await client.put("/v1/rulesets/GEN", content=text, headers=YAML)
    assert r.status_code == 400, r.text
    assert r.json()["errors"] == [{"field": "body", "reason": "nested deeper than 16 levels"}]


def test_a_rule_set_document_has_a_size_limit_of_its_own() -> None:
    with pytest.raises(BadDocument, match="larger than"):
        load_text("name: x\n" + "#" * MAX_DOCUMENT_CHARS)
    assert load_text(yaml.safe_dump(doc(rules=[rule(i) for i in range(MAX_RULES)]))).rules[-1].id == "r0199"
