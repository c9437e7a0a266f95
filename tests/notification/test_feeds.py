"""Safety-call feeds: local windows across DST, JSON and print views, published once per call and date."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from psp_common import topics
from psp_common.events.outreach import OutreachRequested, RuleHit
from psp_common.events.vocab import StaffRef
from psp_notification import consumed
from psp_notification.adapters.repository import Repository
from psp_notification.dispatcher import Dispatcher
from psp_notification.domain.feeds import call_window, due_calls
from tests.notification.support import Env, app_env, matched

TORONTO = ZoneInfo("America/Toronto")


def test_morning_window_spans_previous_evening_and_shrinks_or_grows_across_dst() -> None:
    normal = call_window(date(2026, 3, 2), time(19), time(7), TORONTO)
    assert normal.start == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 19:00 EST on 1 March
    assert normal.end == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    spring = call_window(date(2026, 3, 8), time(19), time(7), TORONTO)  # clocks go forward overnight
    assert spring.end - spring.start == timedelta(hours=11)
    assert spring.end == datetime(2026, 3, 8, 11, 0, tzinfo=UTC)  # 07:00 EDT
    fall = call_window(date(2026, 11, 1), time(19), time(7), TORONTO)  # clocks go back overnight
    assert fall.end - fall.start == timedelta(hours=13)
    evening = call_window(date(2026, 11, 1), time(7), time(19), TORONTO)
    assert evening.start == fall.end and evening.end - evening.start == timedelta(hours=12)


def test_due_calls_respect_local_time_and_catchup() -> None:
    calls = {"morning": time(7), "evening": time(19)}
    at_0659 = datetime(2026, 7, 1, 10, 59, tzinfo=UTC)  # 06:59 EDT
    assert due_calls(at_0659, calls, TORONTO, timedelta(hours=12)) == [("evening", date(2026, 6, 30))]
    at_0701 = at_0659 + timedelta(minutes=2)
    assert ("morning", date(2026, 7, 1)) in due_calls(at_0701, calls, TORONTO, timedelta(hours=12))
    assert due_calls(at_0701, calls, TORONTO, timedelta(0)) == []


def requested(occurred: datetime, unit: str = "ICU", facility: str = "GEN") -> OutreachRequested:
    return OutreachRequested(
        occurred_at=occurred,
        correlation_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        incident_ref="ref_x",
        report_version=1,
        facility=facility,
        unit=unit,
        people=(StaffRef(pseudonym="ps_colleague1", key_id="k1"),),
        rules_fired=(RuleHit(rule_id="harm.death", text="Patient death"),),
        urgency="immediate",
        mode="individual",
        tier=2,
        ruleset_version="v1",
    )


async def test_feed_lists_flagged_events_in_the_window_with_status(env: Env) -> None:
    night = requested(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))  # 22:00 EST on the 22nd
    day = requested(datetime(2026, 11, 23, 15, 0, tzinfo=UTC), unit="ED")  # 10:00 EST
    other = requested(datetime(2026, 11, 23, 3, 0, tzinfo=UTC), facility="WEST")
    for e in (night, day, other):
        await env.handle(consumed.requested, e, env.clock.now())
    m = matched(case_id=night.case_id, correlation_id=night.correlation_id)
    await env.handle(consumed.matched, m, env.c.settings, env.clock.now())
    assert ("requested", None) in await env.statuses()
    r = await env.client.get("/v1/safety-calls/GEN/2026-11-23/morning")
    assert r.status_code == 200, r.text
    feed = r.json()
    assert [(e["unit"], e["status"], e["urgency"]) for e in feed["entries"]] == [("ICU", "assigned", "immediate")]
    assert feed["entries"][0]["triggers"] == [{"rule_id": "harm.death", "text": "Patient death"}]
    assert feed["window_start"].startswith("2026-11-23T00:00:00") and feed["timezone"] == "America/Toronto"
    r = await env.client.get("/v1/safety-calls/GEN/2026-11-23/evening")
    assert [e["unit"] for e in r.json()["entries"]] == ["ED"]
    r = await env.client.get("/v1/safety-calls/GEN/2026-11-23/morning/print")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "ICU" in r.text and "Patient death" in r.text and "22:00" in r.text
    assert str(night.case_id) not in r.text and "ps_" not in r.text
    r = await env.client.get("/v1/safety-calls/GEN/2026-11-23/noon")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "call"
    r = await env.client.get("/v1/safety-calls/GEN/23-11-2026/morning")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.day"


async def test_feed_is_published_at_call_time_once_even_after_restart(env: Env) -> None:
    await env.handle(consumed.requested, requested(datetime(2026, 11, 23, 3, tzinfo=UTC)), env.clock.now())
    env.clock.current = datetime(2026, 11, 23, 11, 59, tzinfo=UTC)  # 06:59 EST
    await env.tick()
    assert not [
        f
        for f in await env.published(topics.SAFETY_CALL_FEED)
        if f["call"] == "morning" and f["call_date"] == "2026-11-23"
    ]
    await env.tick(minutes=2)
    restarted = Dispatcher(env.c.runtime.uow, env.c.settings, env.clock, env.c.dispatcher.router)
    await restarted.tick()
    await env.tick(minutes=5)
    feeds = [f for f in await env.published(topics.SAFETY_CALL_FEED) if f["call_date"] == "2026-11-23"]
    assert [(f["facility"], f["call"]) for f in feeds] == [("GEN", "morning")]
    assert len(feeds[0]["entries"]) == 1 and feeds[0]["entries"][0]["unit"] == "ICU"


def test_unknown_time_zone_is_rejected_at_start() -> None:
    import pytest
    from pydantic import ValidationError

    from psp_notification.settings import NotificationSettings

    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        NotificationSettings(facility_timezones={"GEN": "Mars/Olympus"})


@pytest.fixture(params=["postgres", "sqlite"])
def any_db(request: pytest.FixtureRequest) -> str:
    """PostgreSQL (production) and SQLite (embedded default): the upsert differs by dialect."""
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


async def test_request_arriving_after_its_match_flags_the_case_and_keeps_its_status(any_db: str) -> None:
    """Topics are not ordered with each other: the match may be stored first; the request then adds its facts."""
    async with app_env(any_db) as env:
        req = requested(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
        m = matched(case_id=req.case_id, correlation_id=req.correlation_id, urgency="within_hours")
        await env.handle(consumed.matched, m, env.c.settings, env.clock.now())
        created = env.clock.now()
        env.clock.advance(seconds=30)
        await env.handle(consumed.requested, req, env.clock.now())
        await env.handle(consumed.requested, req.model_copy(update={"event_id": uuid.uuid4()}), env.clock.now())
        feed = (await env.client.get("/v1/safety-calls/GEN/2026-11-23/morning")).json()
        async with env.c.runtime.uow() as uow:
            case = await Repository(uow.session).case(str(req.case_id))
    assert case is not None
    assert case.status == "assigned" and case.flagged is True and case.urgency == "immediate"
    assert case.created_at == created and case.correlation_id == str(req.correlation_id)
    assert [(e["status"], e["triggers"]) for e in feed["entries"]] == [
        ("assigned", [{"rule_id": "harm.death", "text": "Patient death"}])
    ]
