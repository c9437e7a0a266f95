"""Decisions judged on event time: the merge window compares when incidents occurred, never when they arrived.

Events go through the real subscriber (FastStream TestKafkaBroker) of an app built with a ManualClock, on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from sqlalchemy import select

from psp_common import topics
from psp_common.clock import ManualClock
from psp_common.events.intake import IncidentObserved
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_common.migrations import upgrade_async
from psp_rules.adapters.orm import cases, decisions, outbox
from psp_rules.bootstrap import MIGRATIONS, build
from psp_rules.settings import RulesSettings
from tests.rules.helpers import OCCURRED, observed

SUBMITTED = OCCURRED + timedelta(days=30)  # both reports arrive long after the incidents, back to back


async def submit(url: str, clock: ManualClock, *events: Any, step: dict[str, float] | None = None, **over: Any) -> Any:
    """Publish ``events`` to the rules subscriber in order (moving the clock by ``step`` between them)."""
    await upgrade_async(MIGRATIONS, url)
    app = build(RulesSettings(database_url=url, kafka_create_topics=False, **over), clock=clock)
    rt = app.state.container.runtime
    async with TestKafkaBroker(rt.broker) as broker:
        for event in events:
            topic = topics.OUTREACH_STATUS if isinstance(event, OutreachStatusChanged) else topics.INCIDENT_OBSERVED
            if isinstance(event, IncidentObserved) and step:
                clock.set(event.occurred_at + timedelta(**step))
            await broker.publish(event.model_dump_json().encode(), topic, key=b"k")
    return app


async def rows(app: Any, query: Any) -> list[Any]:
    rt = app.state.container.runtime
    async with rt.session() as s:
        return list((await s.execute(query)).all())


async def opened_cases(app: Any) -> list[OutreachRequested]:
    payloads = await rows(app, select(outbox.c.payload).order_by(outbox.c.id))
    return [OutreachRequested.model_validate_json(p) for (p,) in payloads]


def two_severe(gap_days: float, later_first: bool) -> list[IncidentObserved]:
    first = observed(ids=("E1",), harm_level="severe", occurred_at=OCCURRED)
    second = observed(ids=("E1",), harm_level="severe", occurred_at=OCCURRED + timedelta(days=gap_days))
    return [second, first] if later_first else [first, second]


async def check_two_severe_events(url: str, gap_days: float, cases_expected: int, later_first: bool) -> None:
    app = await submit(url, ManualClock(SUBMITTED), *two_severe(gap_days, later_first))
    try:
        out = await opened_cases(app)
        assert len(out) == cases_expected
        assert len(await rows(app, select(cases.c.case_id))) == cases_expected
        outcomes = [o for (o,) in await rows(app, select(decisions.c.outcome).order_by(decisions.c.id))]
        assert outcomes == ["outreach requested", "merged" if cases_expected == 1 else "outreach requested"]
        decided = {d for (d,) in await rows(app, select(decisions.c.decided_at))}
        assert {d.replace(tzinfo=None) for d in decided} == {SUBMITTED.replace(tzinfo=None)}  # the injected clock
    finally:
        await app.state.container.runtime.engine.dispose()


SCENARIOS = pytest.mark.parametrize(
    ("gap_days", "cases_expected"), [(10, 2), (2, 1)], ids=["10-days-apart", "2-days-apart"]
)
ORDERS = pytest.mark.parametrize("later_first", [False, True], ids=["in-order", "later-first"])


@SCENARIOS
@ORDERS
async def test_two_severe_events_of_one_clinician_split_or_merge_by_occurrence_sqlite(
    sqlite_url: str, gap_days: float, cases_expected: int, later_first: bool
) -> None:
    await check_two_severe_events(sqlite_url, gap_days, cases_expected, later_first)


@pytest.mark.postgres
@SCENARIOS
@ORDERS
async def test_two_severe_events_of_one_clinician_split_or_merge_by_occurrence_postgres(
    pg_url: str, gap_days: float, cases_expected: int, later_first: bool
) -> None:
    await check_two_severe_events(pg_url, gap_days, cases_expected, later_first)


def history() -> list[IncidentObserved]:
    """One clinician: an incident, another 2 days later (merges), another 10 days later (new case)."""
    return [
        observed(ids=("E1",), harm_level="severe", occurred_at=OCCURRED),
        observed(ids=("E1",), harm_level="death", occurred_at=OCCURRED + timedelta(days=2)),
        observed(ids=("E1", "E2"), harm_level="severe", occurred_at=OCCURRED + timedelta(days=10)),
        observed(ids=("E2",), harm_level="severe", occurred_at=OCCURRED + timedelta(days=11)),
    ]


async def decided(app: Any) -> list[tuple[str, str, Any]]:
    found = await rows(app, select(decisions.c.incident_ref, decisions.c.outcome, decisions.c.detail))
    try:
        return [(ref, outcome, [(a["kind"], a["case_id"]) for a in detail]) for ref, outcome, detail in found]
    finally:
        await app.state.container.runtime.engine.dispose()


async def test_a_replay_a_year_later_decides_what_live_processing_did(tmp_path: Any) -> None:
    events = history()
    live = await submit(f"sqlite+aiosqlite:///{tmp_path}/live.db", ManualClock(OCCURRED), *events, step={"minutes": 5})
    # Rebuilding from the topic a year later: the outreach max age is lifted, else nothing would page (on purpose).
    replay = await submit(
        f"sqlite+aiosqlite:///{tmp_path}/replay.db",
        ManualClock(SUBMITTED + timedelta(days=365)),
        *events,
        outreach_max_age_days=None,
    )
    live_decisions, replayed = await decided(live), await decided(replay)
    assert [outcome for _, outcome, _ in live_decisions] == [
        "outreach requested",
        "merged; escalated",
        "outreach requested",
        "merged",
    ]
    assert replayed == live_decisions


async def test_a_case_closes_when_the_outreach_closed_not_when_the_status_arrived(sqlite_url: str) -> None:
    incident = observed(ids=("E1",), harm_level="severe", occurred_at=OCCURRED)
    clock = ManualClock(OCCURRED + timedelta(minutes=5))
    app = await submit(sqlite_url, clock, incident)
    [case] = await opened_cases(app)
    closed_at = OCCURRED + timedelta(days=3)
    status = OutreachStatusChanged(
        occurred_at=closed_at,
        correlation_id=uuid.uuid4(),
        case_id=case.case_id,
        status=OutreachStatus.CLOSED,
        facility="GEN",
        unit="ICU",
    )
    clock.set(closed_at + timedelta(days=20))  # the status arrives late (consumer lag, replay)
    app = await submit(sqlite_url, clock, status)
    try:
        [(status_value, updated_at)] = await rows(app, select(cases.c.status, cases.c.updated_at))
        assert status_value == "closed" and _utc(updated_at) == closed_at  # the retention clock starts here
        retention = app.state.container.retention
        retention.now = lambda: closed_at + timedelta(days=90, hours=1)
        assert await retention.tick() >= 1
    finally:
        await app.state.container.runtime.engine.dispose()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=OCCURRED.tzinfo)


async def test_outreach_is_requested_at_the_decision_time_not_when_the_incident_occurred(sqlite_url: str) -> None:
    # A report filed 3 days late: matching must judge shifts and workload when outreach is requested (now).
    decided_at = OCCURRED + timedelta(days=3)
    app = await submit(sqlite_url, ManualClock(decided_at), observed(ids=("E1",), harm_level="severe"))
    try:
        [requested] = await opened_cases(app)
        assert requested.occurred_at == OCCURRED
        assert requested.requested_at == decided_at
    finally:
        await app.state.container.runtime.engine.dispose()
