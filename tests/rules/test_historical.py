"""Historical and too-old incidents: decided, recorded and counted, but no case and no OutreachRequested.

Events go through the real rules subscriber (FastStream TestKafkaBroker) of an app on an injected ManualClock,
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from psp_common.clock import ManualClock
from psp_common.events.intake import IncidentObserved
from psp_rules.adapters.orm import cases, decisions, outbox
from psp_rules.domain.engine import Action, ActionKind, Decision, Evaluation
from psp_rules.domain.model import Mode, Urgency
from psp_rules.domain.paging import HISTORICAL, hold, not_paged_reason
from psp_rules.settings import RulesSettings
from tests.rules.helpers import OCCURRED, observed
from tests.rules.test_event_time import rows, submit
from tests.support import client_for

SOON = OCCURRED + timedelta(hours=1)


async def counts(app: Any) -> tuple[int, int, int]:
    """(decisions, cases, outbox rows)."""
    n = [(await rows(app, select(func.count()).select_from(t)))[0][0] for t in (decisions, cases, outbox)]
    return n[0], n[1], n[2]


async def stats(app: Any) -> dict[str, Any]:
    async with client_for(app, ["analyst"], base_url="http://t") as client:
        r = await client.get("/v1/stats")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def severe(i: int, **kw: Any) -> IncidentObserved:
    return observed(f"ref_h{i}", ids=(f"E{i}",), harm_level="severe", **kw)


async def check_historical_events_are_decided_and_counted_never_paged(url: str) -> None:
    events = [severe(i, historical=True) for i in range(6)] + [severe(i) for i in range(10, 15)]  # 6 old, 5 live
    app = await submit(url, ManualClock(SOON), *events, stats_min_cell=5)
    try:
        assert await counts(app) == (11, 5, 5)  # every one decided; the live ones alone opened and published
        found = await rows(app, select(decisions.c.incident_ref, decisions.c.fired, decisions.c.outcome))
        held = [(fired, outcome) for ref, fired, outcome in found if int(ref[5:]) < 10]
        assert len(held) == 6 and all(fired for fired, _ in held)  # the rules fired ...
        assert all(o == "not paged (historical import); would have: outreach requested" for _, o in held)
        body = await stats(app)
        assert (body["decisions"], body["not_paged"], body["cases_opened"]) == (11, 6, 5)
        assert body["by_action"]["not paged"] == 6
    finally:
        await app.state.container.runtime.engine.dispose()


async def test_historical_events_are_decided_and_counted_never_paged_sqlite(sqlite_url: str) -> None:
    await check_historical_events_are_decided_and_counted_never_paged(sqlite_url)


@pytest.mark.postgres
async def test_historical_events_are_decided_and_counted_never_paged_postgres(pg_url: str) -> None:
    await check_historical_events_are_decided_and_counted_never_paged(pg_url)


@pytest.mark.parametrize(
    ("age_days", "max_age", "paged"),
    [(31, 30.0, False), (29, 30.0, True), (400, None, True), (2, 1.5, False)],
    ids=["older-than-max", "within-max", "no-limit", "fractional-days"],
)
async def test_a_live_event_older_than_the_max_age_is_decided_not_paged(
    sqlite_url: str, age_days: float, max_age: float | None, paged: bool
) -> None:
    clock = ManualClock(OCCURRED + timedelta(days=age_days))  # the decision clock vs the event's occurred_at
    app = await submit(sqlite_url, clock, severe(1), outreach_max_age_days=max_age)
    try:
        assert await counts(app) == ((1, 1, 1) if paged else (1, 0, 0))
        [(outcome, detail)] = await rows(app, select(decisions.c.outcome, decisions.c.detail))
        if not paged:
            assert outcome.startswith(f"not paged (occurred more than {max_age:g} days before the decision)")
            assert [a["kind"] for a in detail] == ["not paged"] and detail[0]["case_id"] is None
    finally:
        await app.state.container.runtime.engine.dispose()


def test_the_default_max_age_is_thirty_days() -> None:
    assert RulesSettings().outreach_max_age_days == 30


async def test_a_historical_event_neither_merges_into_nor_escalates_a_live_case(sqlite_url: str) -> None:
    live = observed("ref_live", ids=("E1",), harm_level="moderate", category="medication")
    past = observed("ref_past", ids=("E1",), harm_level="death", occurred_at=OCCURRED + timedelta(hours=2))
    app = await submit(sqlite_url, ManualClock(SOON), live, past.model_copy(update={"historical": True}))
    try:
        before = await rows(app, select(cases.c.case_id, cases.c.urgency))
        assert len(before) == 1 and (await counts(app))[2] == 1  # only the live case was requested
        [(_, outcome)] = await rows(
            app, select(decisions.c.incident_ref, decisions.c.outcome).where(decisions.c.incident_ref == "ref_past")
        )
        assert outcome.startswith("not paged (historical import)")
    finally:
        await app.state.container.runtime.engine.dispose()


def test_an_event_from_an_older_producer_without_the_field_is_live() -> None:
    body = severe(1).model_dump(mode="json")
    assert "historical" not in body  # a live event is sent without the flag (older consumers accept it)
    assert IncidentObserved.model_validate(body).historical is False


def test_hold_keeps_what_pages_nobody_and_turns_the_rest() -> None:
    ev = Evaluation((), Urgency.IMMEDIATE, 1, False)
    suppressed = Action(ActionKind.SUPPRESS, "", ("ps_a",), Mode.INDIVIDUAL, Urgency.IMMEDIATE, 1, False)
    opened = Action(ActionKind.OPEN, "c1", ("ps_b",), Mode.INDIVIDUAL, Urgency.IMMEDIATE, 1, True)
    decision = Decision(ev, Mode.INDIVIDUAL, (suppressed, opened), "suppressed: opted out; outreach requested")
    held = hold(decision, HISTORICAL)
    assert held.actions[0] == suppressed
    assert (held.actions[1].kind, held.actions[1].publish, held.actions[1].case_id) == (ActionKind.HELD, False, "")
    assert hold(Decision(ev, Mode.INDIVIDUAL, (suppressed,), "x"), HISTORICAL).outcome == "x"  # nothing to hold
    assert not_paged_reason(False, OCCURRED, OCCURRED + timedelta(days=30), 30) is None  # exactly the max: paged
    assert not_paged_reason(True, OCCURRED, OCCURRED, None) == HISTORICAL
