"""Rules retention: members, decision and incident-fact pseudonyms purged after a case closes; counts kept for
/v1/stats, facts kept without names for the what-if."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_common.migrations import upgrade_async
from psp_common.retention import Retention
from psp_rules import handlers
from psp_rules.adapters.orm import case_members, cases, decisions, incident_facts, outbox
from psp_rules.bootstrap import MIGRATIONS, build
from psp_rules.retention import purge_closed
from psp_rules.settings import RulesSettings
from tests.rules.helpers import OCCURRED, observed
from tests.support import auth_headers, client_for

HANDLED = OCCURRED + timedelta(hours=1)  # when the events are handled


@pytest.fixture
async def app(sqlite_url: str) -> AsyncIterator[Any]:
    await upgrade_async(MIGRATIONS, sqlite_url)
    application = build(RulesSettings(database_url=sqlite_url, kafka_create_topics=False))
    yield application
    await application.state.container.runtime.engine.dispose()


async def decide(app: Any, ref: str, *ids: str, **kw: Any) -> list[str]:
    """Decide one incident; return the case ids it published."""
    rt = app.state.container.runtime
    async with rt.uow() as uow:
        await handlers.on_incidents([observed(ref, ids=ids, **kw)], uow, app.state.container.config, HANDLED)
        await uow.commit()
    async with rt.session() as s:
        payloads = (await s.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars()
        return [str(OutreachRequested.model_validate_json(p).case_id) for p in payloads]


async def close(app: Any, case_id: str) -> None:
    event = OutreachStatusChanged(
        occurred_at=OCCURRED,
        correlation_id=uuid.uuid4(),
        case_id=uuid.UUID(case_id),
        status=OutreachStatus.CLOSED,
        facility="GEN",
        unit="ICU",
    )
    async with app.state.container.runtime.uow() as uow:
        await handlers.on_statuses([event], uow)
        await uow.commit()


async def table(app: Any, t: Any) -> list[dict[str, Any]]:
    async with app.state.container.runtime.session() as s:
        return [dict(r._mapping) for r in (await s.execute(select(t))).all()]


def retention(app: Any, now: datetime, days: float = 90, batch: int = 500) -> Retention:
    return Retention(app.state.container.runtime.uow, purge_closed, days, batch, 3600, lambda: now)


async def test_purges_members_and_decision_pseudonyms_of_old_closed_cases_only(app: Any) -> None:
    [closed_case] = await decide(app, "ref_closed", "E-OLD")
    open_case = (await decide(app, "ref_open", "E-OPEN"))[-1]
    await decide(app, "ref_nothing", "E-NONE", harm_level="no_harm", event_class="near_miss")
    await close(app, closed_case)
    assert await retention(app, HANDLED + timedelta(days=89)).tick() == 0  # closed < 90 days ago: kept
    # the case, its decision and facts, the no-op's decision and facts
    assert await retention(app, HANDLED + timedelta(days=91)).tick() == 5
    assert await retention(app, HANDLED + timedelta(days=91)).tick() == 0  # idempotent
    members = await table(app, case_members)
    assert {m["case_id"] for m in members} == {open_case}  # the closed case's members are gone
    by_case = {c["case_id"]: c for c in await table(app, cases)}
    assert by_case[closed_case]["purged_at"] is not None and by_case[open_case]["purged_at"] is None
    by_ref = {d["incident_ref"]: d for d in await table(app, decisions)}
    for ref in ("ref_closed", "ref_nothing"):
        assert by_ref[ref]["purged_at"] is not None
        assert all(a["people"] == [] for a in by_ref[ref]["detail"])
    assert by_ref["ref_closed"]["fired"] and by_ref["ref_closed"]["detail"][0]["kind"] == "opened"
    assert by_ref["ref_open"]["purged_at"] is None and by_ref["ref_open"]["detail"][0]["people"]
    facts = {f["incident_ref"]: f for f in await table(app, incident_facts)}  # what-if: names go, the rest stays
    for ref in ("ref_closed", "ref_nothing"):
        assert facts[ref]["people"] == [[None, None, "rn", "primary", []]] and facts[ref]["purged_at"] is not None
        assert facts[ref]["harm_level"]
    assert facts["ref_open"]["people"][0][0].startswith("ps_") and facts["ref_open"]["purged_at"] is None


async def test_decision_of_a_merged_incident_waits_for_the_case_it_joined(app: Any) -> None:
    [case_id] = await decide(app, "ref_first", "E-1")
    await decide(app, "ref_second", "E-1")  # merged into the open case: its decision names E-1 too
    assert await retention(app, HANDLED + timedelta(days=400)).tick() == 0  # still open: nothing goes
    await close(app, case_id)
    assert await retention(app, HANDLED + timedelta(days=91), batch=1).tick() == 5  # batches until done
    assert await table(app, case_members) == []
    assert all(d["purged_at"] is not None for d in await table(app, decisions))
    assert all(p[0] is None for f in await table(app, incident_facts) for p in f["people"])


async def test_stats_count_decisions_for_analysts_and_survive_retention(app: Any) -> None:
    [case_id] = await decide(app, "ref_a", "E-A")
    await decide(app, "ref_b", "E-B", harm_level="no_harm", event_class="near_miss")
    await close(app, case_id)
    settings = app.state.container.settings
    settings.stats_min_cell = 1  # every count shown here; small-cell suppression: tests/rules/test_stats.py
    async with client_for(app, ["analyst"], base_url="http://t") as client:
        before = (await client.get("/v1/stats")).json()
        assert before["decisions"] == 2 and before["no_trigger"] == 1
        assert before["by_action"] == {"opened": 1} and before["by_facility"] == {"GEN": 2}
        assert before["by_urgency"] == {"immediate": 1} and before["by_mode"] == {"individual": 1}
        assert before["cases_opened"] == 1 and before["cases_closed"] == 1 and before["cases_purged"] == 0
        assert (await client.get("/v1/decisions")).status_code == 403  # analysts see counts only
        await retention(app, HANDLED + timedelta(days=91)).tick()
        after = (await client.get("/v1/stats")).json()
        assert {**after, "cases_purged": 0} == before and after["cases_purged"] == 1
        r = await client.get("/v1/stats", params={"since": (HANDLED + timedelta(days=1)).isoformat()})
        assert r.json()["decisions"] == 0 and r.json()["cases_opened"] == 0
        pseudo = app.state.container.pseudo
        assert pseudo.pseudonym("E-A") not in str(before) and "ref_a" not in str(before)
        supporter = auth_headers(settings, ["supporter"], staff_id="S-1")
        assert (await client.get("/v1/stats", headers=supporter)).status_code == 403
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as anon:
        assert (await anon.get("/v1/stats")).status_code == 401
