"""Supporter object-level access, analyst aggregates and retention of closed cases (clock injectable)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from psp_notification import consumed
from psp_notification.adapters.orm import assignments, cases, pages, status_log
from tests.notification.support import Env, matched
from tests.notification.test_feeds import requested
from tests.support import auth_headers


def hdr(env: Env, *scopes: str, staff_id: str | None = None) -> dict[str, str]:
    return auth_headers(env.c.settings, list(scopes), subject=staff_id or scopes[0], staff_id=staff_id)


async def open_case(env: Env, primary_staff: str, *, ack: bool = True, **over: Any) -> tuple[str, str]:
    """A requested + matched case whose primary (by staff id) acknowledged; (case_id, assignment_id)."""
    req = requested(env.clock.now())
    await env.handle(consumed.requested, req, env.clock.now())
    ref = env.c.pseudo.pseudonym(primary_staff)
    m = matched(primary=ref, case_id=req.case_id, correlation_id=req.correlation_id, **over)
    await env.handle(consumed.matched, m, env.c.settings, env.clock.now())
    if ack:
        async with env.c.runtime.uow() as uow:
            taken = {"acknowledged_by": ref, "acknowledged_at": env.clock.now(), "state": "acknowledged"}
            where = assignments.c.assignment_id == str(m.assignment_id)
            await uow.session.execute(update(assignments).where(where).values(**taken))
            await uow.commit()
    return str(req.case_id), str(m.assignment_id)


async def test_supporter_sees_and_acts_only_on_their_own(env: Env) -> None:
    case_a, asg_a = await open_case(env, "S-ANN")
    case_b, asg_b = await open_case(env, "S-BOB")
    ann = hdr(env, "supporter", staff_id="S-ANN")
    bob = hdr(env, "supporter", staff_id="S-BOB")
    assert (await env.client.get(f"/v1/cases/{case_a}/status", headers=ann)).status_code == 200
    assert (await env.client.get(f"/v1/cases/{case_b}/status", headers=ann)).status_code == 404
    assert (await env.client.post(f"/v1/assignments/{asg_b}/contacted", headers=ann)).status_code == 404
    assert (await env.client.post(f"/v1/assignments/{asg_b}/close", headers=ann)).status_code == 404
    assert (await env.client.post(f"/v1/assignments/{asg_b}/close", headers=bob)).json() == {"result": "closed"}
    mine = (await env.client.get("/v1/me/assignments", headers=ann)).json()
    assert [a["assignment_id"] for a in mine["assignments"]] == [asg_a]
    assert {p["case_id"] for p in mine["pages"]} == {case_a}
    assert "S-BOB" not in str(mine) and env.c.pseudo.pseudonym("S-BOB") not in str(mine)
    no_claim = hdr(env, "supporter")
    assert (await env.client.get("/v1/me/assignments", headers=no_claim)).status_code == 403
    assert (await env.client.get(f"/v1/cases/{case_a}/status", headers=no_claim)).status_code == 404
    # a coordinator sees and acts on everything
    coord = hdr(env, "coordinator")
    assert (await env.client.get(f"/v1/cases/{case_b}/status", headers=coord)).status_code == 200


async def test_stats_are_counts_only_for_analysts(env: Env) -> None:
    env.c.settings.stats_min_cell = 1  # every count shown here; suppression: test_stats_suppress_small_cells
    _, asg = await open_case(env, "S-ANN")
    await open_case(env, "S-BOB", ack=False)
    env.clock.advance(minutes=45)
    analyst = hdr(env, "analyst")
    assert (await env.client.post(f"/v1/assignments/{asg}/contacted", headers=analyst)).status_code == 403
    await env.client.post(f"/v1/assignments/{asg}/contacted", headers=hdr(env, "coordinator"))
    r = await env.client.get("/v1/stats", headers=analyst)
    assert r.status_code == 200
    body = r.json()
    assert body["cases"] == 2 and body["by_trigger"] == {"harm.death": 2}
    assert body["by_urgency"] == {"immediate": 2} and body["by_mode"] == {"individual": 2}
    assert body["by_status"] == {"assigned": 1, "contacted": 1}
    assert body["min_cell"] == 1
    assert body["time_to_contact_minutes"] == {"count": 1, "percentiles": {"p50": 45.0, "p90": 45.0, "p95": 45.0}}
    assert "ps_" not in r.text and "-" not in "".join(body["by_status"])  # no pseudonyms, no ids
    assert (await env.client.get("/v1/stats", headers=hdr(env, "supporter", staff_id="S-ANN"))).status_code == 403
    assert (await env.client.get("/v1/deliveries", headers=analyst)).status_code == 403


async def test_stats_suppress_small_cells(env: Env) -> None:
    assignment_ids = [(await open_case(env, f"S-{i}"))[1] for i in range(6)]
    env.clock.advance(minutes=45)
    coord = hdr(env, "coordinator")
    assert (await env.client.post(f"/v1/assignments/{assignment_ids[0]}/contacted", headers=coord)).status_code == 200
    body = (await env.client.get("/v1/stats", headers=hdr(env, "analyst"))).json()
    assert body["min_cell"] == 5 and body["cases"] == 6 and body["purged"] == 0
    # one contacted case: hidden, and the 5 assigned too (else contacted = cases - assigned)
    assert body["by_status"] == {"assigned": None, "contacted": None}
    assert body["by_urgency"] == {"immediate": 6} and body["by_trigger"] == {"harm.death": 6}
    # one time to contact is that one supporter's: no count, no percentile
    assert body["time_to_contact_minutes"] == {"count": None, "percentiles": {"p50": None, "p90": None, "p95": None}}


async def rows(env: Env, table: Any, case_id: str) -> list[dict[str, Any]]:
    async with env.c.runtime.session() as s:
        return [dict(r._mapping) for r in (await s.execute(select(table).where(table.c.case_id == case_id))).all()]


async def test_retention_purges_identifying_data_of_old_closed_cases_only(env: Env) -> None:
    coord = hdr(env, "coordinator")
    old_case, old_asg = await open_case(env, "S-ANN")
    assert (await env.client.post(f"/v1/assignments/{old_asg}/close", headers=coord)).status_code == 200
    env.clock.advance(days=60)
    new_case, new_asg = await open_case(env, "S-BOB")
    assert (await env.client.post(f"/v1/assignments/{new_asg}/close", headers=coord)).status_code == 200
    open_id, _ = await open_case(env, "S-CAT")
    env.clock.advance(days=31)  # old case closed 91 days ago, new one 31 days ago, one still open
    assert await env.c.retention.tick() == 1
    assert await env.c.retention.tick() == 0  # idempotent
    old = (await rows(env, assignments, old_case))[0]
    assert old["candidates"] == [] and old["acknowledged_by"] is None and old["closed_at"] is not None
    assert old["supported"] == []  # the supported people's pseudonyms (the supporter page's lookup) go too
    assert {p["recipient_ref"] for p in await rows(env, pages, old_case)} == {"purged"}
    assert {h["supporter_ref"] for h in await rows(env, status_log, old_case)} == {None}
    assert (await rows(env, cases, old_case))[0]["purged_at"] is not None
    for kept, who in ((new_case, "S-BOB"), (open_id, "S-CAT")):
        a = (await rows(env, assignments, kept))[0]
        assert a["acknowledged_by"] == env.c.pseudo.pseudonym(who) and a["candidates"] and a["supported"]
        assert (await rows(env, cases, kept))[0]["purged_at"] is None
    ann = hdr(env, "supporter", staff_id="S-ANN")
    assert (await env.client.get("/v1/me/assignments", headers=ann)).json()["assignments"] == []
    env.c.settings.stats_min_cell = 1
    stats = (await env.client.get("/v1/stats", headers=hdr(env, "analyst"))).json()
    assert stats["cases"] == 3 and stats["purged"] == 1 and stats["by_status"]["closed"] == 2


async def test_retention_window_is_configurable(sqlite_url: str) -> None:
    from tests.notification.support import app_env

    async with app_env(sqlite_url, retention_days=1) as env:
        _, asg = await open_case(env, "S-ANN")
        await env.client.post(f"/v1/assignments/{asg}/close", headers=hdr(env, "coordinator"))
        env.clock.advance(hours=23)
        assert await env.c.retention.tick() == 0
        env.clock.advance(hours=2)
        assert await env.c.retention.tick() == 1
