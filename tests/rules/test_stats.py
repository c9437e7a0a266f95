"""Rules /v1/stats: a small cell in any breakdown is null, and no total gives it back (PSP_STATS_MIN_CELL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from psp_common.migrations import upgrade_async
from psp_rules.bootstrap import MIGRATIONS, build
from psp_rules.settings import RulesSettings
from tests.rules.test_retention import decide
from tests.support import client_for


@pytest.fixture
async def app(sqlite_url: str) -> AsyncIterator[Any]:
    await upgrade_async(MIGRATIONS, sqlite_url)
    application = build(RulesSettings(database_url=sqlite_url, kafka_create_topics=False))
    yield application
    await application.state.container.runtime.engine.dispose()


async def stats(app: Any) -> dict[str, Any]:
    async with client_for(app, ["analyst"], base_url="http://t") as client:
        r = await client.get("/v1/stats")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


async def test_a_facility_with_one_decision_is_suppressed_and_cannot_be_recomputed(app: Any) -> None:
    for i in range(6):
        await decide(app, f"ref_gen_{i}", f"E-G{i}")
    await decide(app, "ref_small", "E-S", facility="SMALL")
    await decide(app, "ref_none", "E-N", harm_level="no_harm", event_class="near_miss")
    body = await stats(app)
    assert body["min_cell"] == 5 and body["decisions"] == 8
    # one decision at SMALL; GEN (7) is hidden too, else SMALL = decisions - GEN
    assert body["by_facility"] == {"GEN": None, "SMALL": None}
    # one decision fired no rule: hidden, and so is the urgency/mode cell it would be recomputed from
    assert body["no_trigger"] is None
    assert body["by_urgency"] == {"immediate": None} and body["by_mode"] == {"individual": None}
    assert body["by_rule"] and all(v is None or v >= 5 for v in body["by_rule"].values())
    # 7 cases opened, none closed: the 0 is published, the 7 too
    assert (body["cases_opened"], body["cases_closed"], body["cases_purged"]) == (7, 0, 0)
    published = [v for v in (body["decisions"], body["cases_opened"]) if v]
    assert all(v >= 5 for v in published)


async def test_a_window_with_fewer_decisions_than_the_minimum_publishes_no_count(app: Any) -> None:
    await decide(app, "ref_one", "E-1")
    body = await stats(app)
    assert body["decisions"] is None and body["cases_opened"] is None
    assert set(body["by_facility"].values()) == {None} and set(body["by_rule"].values()) == {None}


async def test_stats_min_cell_is_a_setting(sqlite_url: str) -> None:
    await upgrade_async(MIGRATIONS, sqlite_url)
    app = build(RulesSettings(database_url=sqlite_url, kafka_create_topics=False, stats_min_cell=1))
    try:
        await decide(app, "ref_one", "E-1")
        body = await stats(app)
        assert body["min_cell"] == 1 and body["decisions"] == 1 and body["by_facility"] == {"GEN": 1}
    finally:
        await app.state.container.runtime.engine.dispose()
