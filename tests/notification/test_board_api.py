"""GET /v1/board: open cases with their newest assignment and the page awaiting an answer; closed cases leave it;
pseudonyms only; coordinators only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from psp_common.events.matching import SupporterUnmatched
from psp_notification import consumed
from tests.notification.support import T0, Env, app_env, matched
from tests.support import client_for


@pytest.fixture
async def env(sqlite_url: str) -> Env:  # type: ignore[misc]
    async with app_env(sqlite_url) as e:
        yield e


async def test_the_board_lists_open_cases_with_their_clocks_and_drops_closed_ones(env: Env) -> None:
    paged = matched(occurred_at=T0 - timedelta(hours=2))
    await env.handle(consumed.matched, paged, env.c.settings, env.clock.now())
    await env.tick()
    base = matched()
    lonely = SupporterUnmatched(
        occurred_at=T0,
        correlation_id=base.correlation_id,
        case_id=base.case_id,
        facility="GEN",
        unit="ED",
        supported=("ps_c",),
        urgency="immediate",
        mode="individual",
        reasons=("nobody on shift",),
    )
    await env.handle(consumed.unmatched, lonely, env.clock.now())
    r = await env.client.get("/v1/board")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ack_window_minutes"] == env.c.settings.ack_window_minutes
    by_case = {i["case_id"]: i for i in body["items"]}
    one = by_case[str(paged.case_id)]
    assert one["status"] == "notified" and one["assignment_state"] == "paging"
    assert one["primary_ref"] == "ps_primary" and one["paged_ref"] == "ps_primary"
    window = timedelta(minutes=env.c.settings.ack_window_minutes)
    assert one["ack_deadline"].startswith((T0 + window).isoformat()[:16])
    assert one["contact_deadline"] is not None and one["contacted_at"] is None
    two = by_case[str(lonely.case_id)]
    assert two["status"] == "unmatched" and two["assignment_id"] is None and two["paged_ref"] is None
    assert "Ana" not in r.text and "display_name" not in r.text  # pseudonyms only
    closed = await env.client.post(f"/v1/assignments/{paged.assignment_id}/close")
    assert closed.status_code == 200, closed.text
    after = {i["case_id"] for i in (await env.client.get("/v1/board")).json()["items"]}
    assert after == {str(lonely.case_id)}


@pytest.mark.parametrize("scopes", [["supporter"], ["analyst"], ["intake"]])
async def test_only_coordinators_see_the_board(env: Env, scopes: list[str]) -> None:
    async with client_for(env.app, scopes, base_url="http://psp.test") as other:
        assert (await other.get("/v1/board")).status_code == 403
