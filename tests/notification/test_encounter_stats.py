"""Evaluation from the encounter log: /v1/stats monthly figures, small-cell suppression, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.notification.support import T0, Env, app_env
from tests.notification.test_access_and_retention import hdr, open_case

PCT = {"p50": None, "p90": None, "p95": None}


async def log(env: Env, asg: str, after: timedelta, **values: Any) -> None:
    body = {"occurred_at": (env.clock.now() - timedelta(hours=3) + after).isoformat(), "mode": "phone"}
    body.update(values)
    r = await env.client.post(f"/v1/assignments/{asg}/encounters", json=body, headers=hdr(env, "coordinator"))
    assert r.status_code == 201, r.text


async def two_months(env: Env) -> None:
    """November: cases A (two encounters) and B; December: case C."""
    _, a = await open_case(env, "S-ANN")
    _, b = await open_case(env, "S-BOB")
    env.clock.advance(hours=3)  # encounters are logged after the fact, at T0 + 30 min, 1 h, 2 h
    await log(env, a, timedelta(minutes=30), duration="30-60m", outcome="support_given",
              referrals=["eap", "crisis"], follow_up_on="2026-11-30")  # fmt: skip
    await log(env, b, timedelta(hours=1), duration=">60m", outcome="support_declined", debrief_wanted=True)
    await log(env, a, timedelta(hours=2), duration="30-60m", kind="group", attendance=4, outcome="support_given")
    env.clock.set(T0 + timedelta(days=9))  # 2 December
    _, c = await open_case(env, "S-CAT")
    env.clock.advance(hours=3)
    await log(env, c, timedelta(minutes=45), duration="15-30m", outcome="no_answer", mode="message")


async def test_stats_monthly_figures_from_the_encounter_log(env: Env) -> None:
    env.c.settings.stats_min_cell = 1  # every count shown; suppression: the next test
    await two_months(env)
    r = await env.client.get("/v1/stats", headers=hdr(env, "analyst"))
    assert r.status_code == 200
    nov, dec = r.json()["monthly"]
    assert nov == {
        "month": "2026-11",
        "contacts": 3,
        "support_given": 2,
        "support_declined": 1,
        "no_answer": 0,
        "hours": 3.0,  # 45 + 45 + 90 minutes (band midpoints; >60m counts 90)
        "people_reached": 4,  # case A: its group session of 4; case B declined
        "referrals": {
            "eap": 1,
            "spiritual_care": 0,
            "occupational_health": 0,
            "professional_counselling": 0,
            "crisis": 1,
        },
        "follow_ups": 1,
        "debrief_wanted": 1,
        "time_to_first_contact_minutes": {"count": 2, "percentiles": {"p50": 30.0, "p90": 60.0, "p95": 60.0}},
    }
    assert dec["month"] == "2026-12" and dec["contacts"] == 1 and dec["no_answer"] == 1 and dec["hours"] == 0.4
    assert dec["people_reached"] == 0
    assert dec["time_to_first_contact_minutes"] == {"count": 1, "percentiles": {"p50": 45.0, "p90": 45.0, "p95": 45.0}}
    assert "ps_" not in r.text
    # since/until select the months' encounters and first contacts by when they happened
    only_dec = (await env.client.get("/v1/stats?since=2026-12-01T00:00:00Z", headers=hdr(env, "analyst"))).json()
    assert [m["month"] for m in only_dec["monthly"]] == ["2026-12"]


async def six_in_november(env: Env) -> None:
    """Six cases in November, five given support and one declined; one crisis referral; one December case."""
    ids = [(await open_case(env, f"S-{i}"))[1] for i in range(6)]
    env.clock.advance(hours=3)
    for i, asg in enumerate(ids):
        await log(env, asg, timedelta(minutes=30), duration="30-60m",
                  outcome="support_declined" if i == 0 else "support_given",
                  referrals=["crisis"] if i == 1 else [])  # fmt: skip
    env.clock.set(T0 + timedelta(days=9))
    _, c = await open_case(env, "S-CAT")
    env.clock.advance(hours=3)
    await log(env, c, timedelta(minutes=45), duration="15-30m", outcome="support_given")


async def test_stats_monthly_small_cells_are_suppressed(env: Env) -> None:
    await six_in_november(env)
    nov, dec = (await env.client.get("/v1/stats", headers=hdr(env, "coordinator"))).json()["monthly"]
    assert nov["contacts"] == 6 and nov["hours"] == 4.5 and nov["no_answer"] == 0
    # one declined: hidden, and support given too (else declined = contacts - given); people reached with it
    assert nov["support_declined"] is None and nov["support_given"] is None and nov["people_reached"] is None
    assert nov["referrals"]["crisis"] is None and nov["referrals"]["eap"] == 0
    assert nov["time_to_first_contact_minutes"]["count"] == 6
    # December: one encounter of one supporter, nothing shown
    assert dec["contacts"] is None and dec["hours"] is None and dec["support_given"] is None
    assert dec["people_reached"] is None
    assert dec["time_to_first_contact_minutes"] == {"count": None, "percentiles": PCT}


async def test_stats_csv_export_has_the_same_suppressed_cells_empty(env: Env) -> None:
    await six_in_november(env)
    r = await env.client.get("/v1/stats.csv", headers=hdr(env, "analyst"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["month"] for row in rows] == ["2026-11", "2026-12"]
    nov, dec = rows
    assert nov["contacts"] == "6" and nov["hours"] == "4.5" and nov["no_answer"] == "0"
    assert nov["support_given"] == "" and nov["support_declined"] == "" and nov["people_reached"] == ""
    assert nov["referrals_crisis"] == "" and nov["referrals_eap"] == "0" and nov["first_contacts"] == "6"
    assert nov["time_to_first_contact_p50_minutes"] == "30.0"
    assert dec["contacts"] == "" and dec["hours"] == "" and dec["time_to_first_contact_p90_minutes"] == ""
    monthly = (await env.client.get("/v1/stats", headers=hdr(env, "analyst"))).json()["monthly"]
    for row, month in zip(rows, monthly, strict=True):
        assert row["contacts"] == ("" if month["contacts"] is None else str(month["contacts"]))
    assert (await env.client.get("/v1/stats.csv", headers=hdr(env, "coordinator"))).status_code == 200
    supporter = hdr(env, "supporter", staff_id="S-0")
    assert (await env.client.get("/v1/stats.csv", headers=supporter)).status_code == 403


async def test_encounters_and_monthly_stats_on_postgresql(pg_url: str) -> None:
    async with app_env(pg_url, stats_min_cell=1) as env:
        await two_months(env)
        nov, dec = (await env.client.get("/v1/stats", headers=hdr(env, "analyst"))).json()["monthly"]
        assert (nov["contacts"], nov["hours"], nov["people_reached"], nov["follow_ups"]) == (3, 3.0, 4, 1)
        assert nov["referrals"]["crisis"] == 1 and dec["no_answer"] == 1
        assert nov["time_to_first_contact_minutes"]["percentiles"]["p50"] == 30.0
        referral = [p for p in await env.pages() if p["purpose"] == "referral"]
        assert [p["recipient_ref"] for p in referral] == ["coordinator"]
        follow_up = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 09:00 Toronto
        assert follow_up in [p["due_at"] for p in await env.pages() if p["purpose"] == "checkin"]
        rows = list(csv.DictReader(io.StringIO((await env.client.get("/v1/stats.csv")).text)))
        assert [(r["month"], r["contacts"]) for r in rows] == [("2026-11", "3"), ("2026-12", "1")]
