"""End to end, both third-party referral policies: referral in -> rules -> matching -> notification -> a supporter.

Four processes, real broker and PostgreSQL. At GEN (reach_out) a staff member refers a colleague with their own
token: the supporter is given the colleague's name, who declines the offer: the case closes quietly and is counted.
At NORTH (support_referrer) a manager's referral reaches the referrer, never the colleague."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from psp_common import demo, topics
from psp_common.devrun import LINKS_FILE
from psp_common.pseudonym import Pseudonymizer
from psp_common.settings import ServiceSettings
from psp_common.stack import Stack
from tests.e2e.conftest import running_stack
from tests.e2e.test_pipeline import FORM, ack_link, form_token, submit
from tests.support import auth_headers, eventually, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.kafka]
DECLINED = [("mode", "phone"), ("duration", "<15m"), ("outcome", "support_declined"), ("kind", "one_to_one")]
DECLINED += [("attendance", ""), ("occurred_at", ""), ("follow_up_on", "")]


@pytest.fixture
async def stack(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_admin_dsn: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    env = {
        "PSP_DEV_LINKS_FILE": str(tmp_path / LINKS_FILE),
        "PSP_REFERRAL_POLICIES": json.dumps({"NORTH": "support_referrer"}),  # default: reach_out
        "PSP_STATS_MIN_CELL": "1",
    }
    async with running_stack(kafka_bootstrap, kafka_idempotence, pg_admin_dsn, tmp_path, env) as s:
        yield s


async def setup(stack: Stack, client: httpx.AsyncClient) -> None:
    """Supporters at GEN and NORTH, paged on the console channel; the staff directory."""
    north = [{**s, "staff_id": f"{s['staff_id']}-N", "site": "NORTH"} for s in demo.SUPPORTERS]
    for s in [*demo.SUPPORTERS, *north]:
        assert (await client.post(f"{stack.url('matching')}/v1/supporters", json=s)).status_code in (200, 201)
        r = await client.put(
            f"{stack.url('notification')}/v1/contacts/{s['staff_id']}",
            json={"channels": [{"kind": "console", "address": "console"}]},
        )
        assert r.status_code in (200, 201, 204), r.text
    r = await client.post(
        f"{stack.url('notification')}/v1/directory/import.csv",
        content=demo.DIRECTORY_CSV.encode(),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text


async def requested(stack: Stack, ref: str) -> dict[str, Any]:
    [m] = await read_topic(
        stack.bootstrap or "",
        topics.OUTREACH_REQUESTED,
        count=1,
        match=lambda m: m["value"].get("incident_ref") == ref,
        timeout=60,
    )
    return dict(m["value"])


async def case_page(stack: Stack, case_id: str, browser: httpx.AsyncClient) -> str:
    """The paged supporter acknowledges from their link; the case page's URL."""
    [notified] = await read_topic(
        stack.bootstrap or "",
        topics.OUTREACH_STATUS,
        count=1,
        match=lambda m: m["value"].get("status") == "notified" and m["value"].get("case_id") == case_id,
        timeout=90,
    )
    links = Path(stack.extra_env["PSP_DEV_LINKS_FILE"])
    link = await eventually(lambda: ack_link(links, notified["value"]["supporter_ref"]), timeout=60)
    ack_url = stack.url("notification") + urlsplit(link).path
    r = await browser.post(ack_url, content=b"choice=ack", headers=FORM)
    assert r.status_code == 303, r.text
    return stack.url("notification") + r.headers["location"]


async def request_recorded(stack: Stack, case_id: str, coordinator: dict[str, str]) -> None:
    """Wait until notification has recorded the case's request. A supporter acts seconds after a page, the test
    within milliseconds; the match (two hops from rules) can reach notification before the request (one hop) when
    the request's subscriber is mid-fetch and the match's was woken by the doorbell, and the offer a decline answers
    comes with the request."""

    async def recorded() -> bool | None:
        async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
            r = await client.get(f"{stack.url('notification')}/v1/cases/{case_id}/status")
        if r.status_code != 200:
            return None
        return "requested" in [h["status"] for h in r.json()["history"]] or None

    await eventually(recorded, timeout=60)


async def test_both_referral_policies_end_to_end(stack: Stack) -> None:
    settings = ServiceSettings()
    pseudo = Pseudonymizer.from_settings(settings)
    coordinator = auth_headers(settings, ["coordinator"], subject="e2e-coordinator")
    colleague = auth_headers(settings, ["staff"], subject="e2e-staff", staff_id="E-201")  # refers as themself
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
        await setup(stack, client)
        reach = {"source_system": "e2e", "referral_id": f"R-{tag}", "kind": "colleague", "facility": "GEN"}
        reach |= {"unit": "ICU", "urgency": "today", "person": {"staff_id": "E-200"}}
        r = await client.post(f"{stack.url('listener')}/v1/referrals", json=reach, headers=colleague)
        assert r.status_code == 202, r.text
        reach_ref = r.json()["incident_ref"]
        support = {"source_system": "e2e", "referral_id": f"S-{tag}", "kind": "manager", "facility": "NORTH"}
        support |= {"urgency": "now", "person": {"staff_id": "E-202"}, "referrer": {"staff_id": "E-203"}}
        r = await client.post(f"{stack.url('listener')}/v1/referrals", json=support)
        assert r.status_code == 202, r.text
        support_ref = r.json()["incident_ref"]

    offer = await requested(stack, reach_ref)
    assert [p["pseudonym"] for p in offer["people"]] == [pseudo.pseudonym("E-200")]  # the colleague
    assert offer["urgency"] == "within_hours" and offer["referral"]["offer"] is True
    helper = await requested(stack, support_ref)
    assert [p["pseudonym"] for p in helper["people"]] == [pseudo.pseudonym("E-203")]  # the referrer
    assert helper["urgency"] == "immediate" and helper["referral"]["contacts_referrer"] is True
    assert pseudo.pseudonym("E-202") not in json.dumps(helper)

    async with httpx.AsyncClient(timeout=20) as browser:  # the page links are the supporters' authorization
        north_url = await case_page(stack, helper["case_id"], browser)
        north_page, _ = await form_token(browser, north_url)
        assert "Lee Chen" in north_page and "Sam Okoro" not in north_page  # whom to call: the referrer only
        await request_recorded(stack, offer["case_id"], coordinator)
        gen_url = await case_page(stack, offer["case_id"], browser)
        gen_page, _ = await form_token(browser, gen_url)
        assert "Jordan Avery" in gen_page
        after = await submit(browser, gen_url, "encounter", DECLINED)  # they declined the offer
        assert "This case is closed." in after

    async def closed() -> dict[str, Any] | None:
        async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
            r = await client.get(f"{stack.url('notification')}/v1/cases/{offer['case_id']}/status")
            body = r.json()
            return body if body["status"] == "closed" else None

    status = await eventually(closed, timeout=60)
    assert [h.get("detail") for h in status["history"] if h["status"] == "closed"] == ["offer declined"]
    assert "escalated" not in [h["status"] for h in status["history"]]
    async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
        stats = (await client.get(f"{stack.url('notification')}/v1/stats")).json()
    assert stats["by_offer"]["declined"] == 1 and stats["by_trigger"]["referral-support-referrer"] == 1
