"""End to end, a colleague notification cannot reach: report in -> rules -> matching -> notification, whose contacts
directory (imported) lacks the person named -> 'colleague_unknown' -> the listener's triage -> the coordinator
attaches the right person and dispatches -> a separate case through the normal path.

Four processes, real broker and PostgreSQL. The supporter is paged at once and shown the coordinator's number; the
listener holds the incident once (a redelivered status changes nothing), codes only, counted by reason."""

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
from psp_listener.entrypoints.consumers import GROUPS
from tests.clock import TEST_NOW
from tests.e2e.conftest import running_stack
from tests.e2e.test_pipeline import FORM, ack_link, form_token
from tests.e2e.test_referrals import setup as enrol
from tests.support import auth_headers, consumed, eventually, produce, read_to_end, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.kafka]
COORDINATOR_PHONE = "+1 416 555 0199"
STRANGER = "E-299"  # named by the report, absent from demo.DIRECTORY_CSV
KNOWN = ("E-200", "Jordan Avery")  # in demo.DIRECTORY_CSV: the person the coordinator attaches


@pytest.fixture
async def stack(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_admin_dsn: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    env = {"PSP_DEV_LINKS_FILE": str(tmp_path / LINKS_FILE), "PSP_COORDINATOR_PHONE": COORDINATOR_PHONE}
    async with running_stack(kafka_bootstrap, kafka_idempotence, pg_admin_dsn, tmp_path, env) as s:
        yield s


async def pages(stack: Stack, client: httpx.AsyncClient, case_id: str) -> list[dict[str, Any]]:
    """The supporter pages of ``case_id`` a channel accepted."""
    items = (await client.get(f"{stack.url('notification')}/v1/deliveries")).json()["items"]
    return [d for d in items if d["case_id"] == case_id and d["purpose"] == "page" and d["state"] == "sent"]


async def status(stack: Stack, ref: str, case_id: str | None = None, name: str = "colleague_unknown") -> Any:
    """The first status ``name`` for incident ``ref`` (or case ``case_id``) on psp.outreach-status.v1."""

    def mine(m: dict[str, Any]) -> bool:
        v = m["value"]
        return v["status"] == name and (v["case_id"] == case_id or (v.get("unknown") or {}).get("incident_ref") == ref)

    [m] = await read_topic(stack.bootstrap or "", topics.OUTREACH_STATUS, count=1, match=mine, timeout=90)
    return m


async def case_page_text(stack: Stack, supporter_ref: str) -> str:
    """The paged supporter acknowledges from their link; the case page they see."""
    link = await eventually(lambda: ack_link(Path(stack.extra_env["PSP_DEV_LINKS_FILE"]), supporter_ref), timeout=60)
    async with httpx.AsyncClient(timeout=20) as browser:  # the link is the authorization
        r = await browser.post(stack.url("notification") + urlsplit(link).path, content=b"choice=ack", headers=FORM)
        assert r.status_code == 303, r.text
        page, _ = await form_token(browser, stack.url("notification") + r.headers["location"])
    return page


async def test_an_unknown_colleague_is_paged_held_once_and_dispatched_with_the_right_person(stack: Stack) -> None:
    settings = ServiceSettings()
    pseudo = Pseudonymizer.from_settings(settings)
    coordinator = auth_headers(settings, ["coordinator"], subject="e2e-coordinator")
    rid, secret = f"E2E-U-{uuid.uuid4().hex[:8]}", f"NARR-{uuid.uuid4().hex}"
    patient = {"mrn": f"MRN-{uuid.uuid4().hex[:8]}", "name": "Pat Example-Patient", "age_group": "adult"}
    report = {**demo.reports(TEST_NOW)[0], "report_id": rid, "narrative": secret, "patient": patient}
    report["involved_staff"] = [{"staff_id": STRANGER, "role": "rt", "involvement": "primary"}]
    bootstrap = stack.bootstrap or ""
    async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
        await enrol(stack, client)  # supporters on the console channel; the staff directory (without E-299)
        r = await client.post(f"{stack.url('listener')}/v1/occurrence-reports", json=report)
        assert r.status_code == 202, r.text
        ref = r.json()["incident_ref"]

        # Notification asks for triage: the incident's codes and the pseudonym it lacks, nothing from anyone's record.
        flag = await status(stack, ref)
        unknown = flag["value"]["unknown"]
        assert (unknown["report_version"], [p["pseudonym"] for p in unknown["people"]]) == (
            1,
            [pseudo.pseudonym(STRANGER)],
        )
        first_case = flag["value"]["case_id"]
        leaks = [secret, patient["mrn"], patient["name"], STRANGER, KNOWN[1], "416 555", "example.org"]
        assert not [x for x in leaks if x in flag["raw"].decode()], flag["raw"]

        # The case goes on: its supporter is paged without waiting for the coordinator, and shown their number.
        [paged] = await eventually(lambda: pages(stack, client, first_case), timeout=90)
        case_page = await case_page_text(stack, paged["supporter_ref"])
        assert "This colleague is not in the staff directory." in case_page and COORDINATOR_PHONE in case_page

        async def held() -> list[dict[str, Any]]:
            page = (await client.get(f"{stack.url('listener')}/v1/triage", params={"reason": "unknown_staff"})).json()
            return [i for i in page["items"] if i["incident_ref"] == ref]

        [item] = await eventually(held, timeout=60)
        assert (item["status"], item["reasons"], item["unidentified"]) == ("open", ["unknown_staff"], ["primary"])
        assert (item["facility"], item["unit"], item["harm_level"]) == ("GEN", "ICU", "death")
        text = json.dumps(item)
        assert not [x for x in [*leaks, pseudo.pseudonym(STRANGER)] if x in text], text

        # The same status delivered again: consumed by the listener's group, and still one item.
        at = await produce(bootstrap, topics.OUTREACH_STATUS, flag["raw"], key=flag["key"], headers=flag["headers"])
        group = GROUPS[topics.OUTREACH_STATUS]
        await eventually(lambda: consumed(bootstrap, group, topics.OUTREACH_STATUS, at), timeout=60)
        assert await held() == [item]
        stats = (await client.get(f"{stack.url('listener')}/v1/triage/stats")).json()
        assert stats["by_reason"] == {"unknown_staff": {"open": 1}}

        # The coordinator attaches the right person and dispatches (twice: the second publishes nothing).
        path = f"{stack.url('listener')}/v1/triage/{item['id']}:dispatch"
        body = {"staff": [{"staff_id": KNOWN[0], "role": "rn"}]}
        r = await client.post(path, json=body)
        assert r.status_code == 202, r.text
        assert (await client.post(path, json=body)).status_code == 200
        stats = (await client.get(f"{stack.url('listener')}/v1/triage/stats")).json()
        assert stats["by_reason"] == {"unknown_staff": {"dispatched": 1}}

        # A separate case for the person attached, through rules, matching and notification: paged once.
        new = await read_topic(
            bootstrap,
            topics.OUTREACH_REQUESTED,
            count=1,
            match=lambda m: m["value"]["incident_ref"] == ref and m["value"]["case_id"] != first_case,
            timeout=90,
        )
        new_case = new[0]["value"]["case_id"]
        assert [p["pseudonym"] for p in new[0]["value"]["people"]] == [pseudo.pseudonym(KNOWN[0])]
        [paged_new] = await eventually(lambda: pages(stack, client, new_case), timeout=90)
        await status(stack, ref, case_id=new_case, name="notified")
        assert len(await pages(stack, client, new_case)) == 1
        assert KNOWN[1] in await case_page_text(stack, paged_new["supporter_ref"])

    def of_incident(m: dict[str, Any]) -> bool:
        return bool(m["value"]["incident_ref"] == ref)

    observed = await read_to_end(bootstrap, topics.INCIDENT_OBSERVED, match=of_incident)
    assert [m["value"].get("triaged", False) for m in observed] == [False, True]  # the report, then the one dispatch
    requested = await read_to_end(bootstrap, topics.OUTREACH_REQUESTED, match=of_incident)
    assert sorted(m["value"]["case_id"] for m in requested) == sorted([first_case, new_case])
    matched = await read_to_end(bootstrap, topics.SUPPORTER_MATCHED, match=lambda m: m["value"]["case_id"] == new_case)
    assert len(matched) == 1
    flags = await read_to_end(
        bootstrap, topics.OUTREACH_STATUS, match=lambda m: m["value"]["status"] == "colleague_unknown"
    )
    assert [m["value"]["case_id"] for m in flags if m["value"]["case_id"] in (first_case, new_case)] == [first_case] * 2
    # No service logged anyone's name, id, pseudonym or case, nor the narrative or patient data.
    forbidden = [*leaks, KNOWN[0], pseudo.pseudonym(STRANGER), pseudo.pseudonym(KNOWN[0]), first_case, new_case]
    for svc in stack.services.values():
        text = svc.log_path.read_text(errors="replace")
        assert not [f for f in forbidden if f in text], f"{svc.name} log carries {[f for f in forbidden if f in text]}"
