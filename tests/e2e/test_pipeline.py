"""End to end: report in -> rules -> matching -> notification -> the supporter closes the case with an encounter.

Four processes, real broker and PostgreSQL; the supporter works in a browser (HTML pages and forms)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from psp_common import demo, topics
from psp_common.settings import ServiceSettings
from psp_common.stack import Stack
from tests.support import auth_headers, eventually, produce, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.kafka]
HTML = {"accept": "text/html,application/xhtml+xml"}
FORM = {**HTML, "content-type": "application/x-www-form-urlencoded"}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
COLLEAGUE = ("Jordan Avery", "4165550100")  # E-200 in demo.DIRECTORY_CSV (the involved clinician): name, phone
ENCOUNTER = [("mode", "phone"), ("duration", "15-30m"), ("outcome", "support_given"), ("kind", "one_to_one")]
ENCOUNTER += [("referrals", "eap"), ("attendance", ""), ("occurred_at", ""), ("follow_up_on", "")]


async def ack_link(links_file: Path, supporter_ref: str) -> str | None:
    """The acknowledge link the console channel wrote (dev) for this supporter's page: ``<ref> <action> <url>``."""
    try:
        lines = links_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    found = [p[2] for line in lines if len(p := line.split()) == 3 and p[0] == supporter_ref and p[1] == "ack"]
    return found[-1] if found else None


async def form_token(client: httpx.AsyncClient, case_url: str) -> tuple[str, str]:
    """The case page (HTML) and the form token every form on it carries in its hidden ``csrf`` field."""
    page = await client.get(case_url, headers=HTML)
    assert page.status_code == 200, page.text
    tokens = set(CSRF.findall(page.text))
    assert len(tokens) == 1, "every form of the case page carries the same form token"
    return page.text, tokens.pop()


async def submit(client: httpx.AsyncClient, case_url: str, action: str, fields: list[tuple[str, str]]) -> str:
    """Post one form of the case page (its ``action`` is relative to the page); follow the 303; the page after."""
    _, csrf = await form_token(client, case_url)
    target = str(httpx.URL(case_url).join(action))
    r = await client.post(target, content=urlencode([("csrf", csrf), *fields]).encode(), headers=FORM)
    assert r.status_code == 303, (action, r.status_code, r.text)
    after = await client.get(str(httpx.URL(case_url).join(r.headers["location"])), headers=HTML)
    assert after.status_code == 200, after.text
    return after.text


async def supporter_closes_the_case(stack: Stack, supporter_ref: str) -> list[str]:
    """The paged supporter opens the link, acknowledges, reaches the colleague, logs an encounter and closes.

    Returns the HTML pages the supporter saw (the only place the colleague's directory entry may appear)."""
    base = stack.url("notification")
    link = await eventually(lambda: ack_link(Path(stack.extra_env["PSP_DEV_LINKS_FILE"]), supporter_ref), timeout=60)
    ack_url = base + urlsplit(link).path  # the links name the public base URL; this stack's port is its own
    async with httpx.AsyncClient(timeout=20) as browser:  # no bearer token: the link is the authorization
        opened = await browser.get(ack_url, headers=HTML)
        assert opened.status_code == 200 and "<form" in opened.text, opened.text
        r = await browser.post(ack_url, content=b"choice=ack", headers=FORM)
        assert r.status_code == 303, r.text
        case_url = base + r.headers["location"]
        case_page, _ = await form_token(browser, case_url)
        assert all(c in case_page for c in COLLEAGUE), "the case page shows whom to call, from the staff directory"
        seen = [opened.text, case_page]
        seen.append(await submit(browser, case_url, "contacted", []))
        seen.append(await submit(browser, case_url, "encounter", ENCOUNTER))
        seen.append(await submit(browser, case_url, "close", []))
    assert "This case is closed." in seen[-1]
    return seen


async def test_report_reaches_a_peer_supporter_who_closes_the_case_with_an_encounter(stack: Stack) -> None:
    rid = f"E2E-{uuid.uuid4().hex[:8]}"
    secret = f"NARR-{uuid.uuid4().hex}"
    tag = uuid.uuid4().hex[:8]
    coordinator = auth_headers(ServiceSettings(), ["coordinator"], subject="e2e-coordinator")
    async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
        for i, s in enumerate(demo.SUPPORTERS):
            r = await client.post(f"{stack.url('matching')}/v1/supporters", json=s)
            assert r.status_code in (200, 201), r.text
            channels = [
                {"kind": "console", "address": "console"},
                {"kind": "email", "address": f"peer{i}.{tag}@hospital.example"},
                {"kind": "sms", "address": f"+1416555{i:04d}"},
            ]
            r = await client.put(
                f"{stack.url('notification')}/v1/contacts/{s['staff_id']}", json={"channels": channels}
            )
            assert r.status_code in (200, 201, 204), r.text
        r = await client.post(
            f"{stack.url('notification')}/v1/directory/import.csv",
            content=demo.DIRECTORY_CSV.encode(),
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 200, r.text
        report = {**demo.reports()[0], "report_id": rid, "narrative": secret}
        r = await client.post(f"{stack.url('listener')}/v1/occurrence-reports", json=report)
        assert r.status_code == 202, r.text
        # A broken report with the same narrative and patient data on the Kafka intake: dead-lettered, not leaked.
        poison = json.dumps({**report, "report_id": rid + "-bad", "harm_level": "catastrophic"}).encode()
        await produce(stack.bootstrap or "", topics.OCCURRENCE_REPORTS, poison)

        async def delivered() -> list[dict[str, Any]]:
            resp = await client.get(f"{stack.url('notification')}/v1/deliveries")
            body = resp.json()
            items: list[dict[str, Any]] = body if isinstance(body, list) else body.get("items", [])
            return [d for d in items if d.get("state") in ("sent", "delivered")]

        deliveries = await eventually(delivered, timeout=90)
    assert len(deliveries) == 1
    supporter_refs = {d["supporter_ref"] for d in deliveries}
    case_id = deliveries[0]["case_id"]
    statuses = await read_topic(  # this case's: other tests on the shared broker publish 'notified' too
        stack.bootstrap or "",
        topics.OUTREACH_STATUS,
        count=1,
        match=lambda m: m["value"].get("status") == "notified" and m["value"].get("case_id") == case_id,
        timeout=30,
    )
    assert statuses and statuses[0]["value"]["supporter_ref"] in supporter_refs
    dead = await read_topic(
        stack.bootstrap or "",
        topics.DEAD_LETTER,
        count=1,
        timeout=30,
        match=lambda m: m["headers"].get("x-dlq-source-topic") == topics.OCCURRENCE_REPORTS,
    )
    assert dead and dead[0]["headers"].get("x-dlq-quarantine-id")
    pages = await supporter_closes_the_case(stack, statuses[0]["value"]["supporter_ref"])
    assert all(COLLEAGUE[0] in p for p in pages[1:-1])  # the open case shows the directory entry; closed, it does not

    async def closed() -> list[str]:
        async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
            r = await client.get(f"{stack.url('notification')}/v1/cases/{case_id}/status")
        assert r.status_code == 200, r.text
        body = r.json()
        return [h["status"] for h in body["history"]] if body["status"] == "closed" else []

    history = await eventually(closed, timeout=60)
    lifecycle = ["acknowledged", "contacted", "encounter_logged", "closed"]
    assert [s for s in history if s in lifecycle] == lifecycle, history
    [logged] = await read_topic(
        stack.bootstrap or "",
        topics.OUTREACH_STATUS,
        count=1,
        match=lambda m: m["value"].get("status") == "encounter_logged" and m["value"].get("case_id") == case_id,
        timeout=60,
    )
    assert logged["value"]["encounter"] == {"number": 1, "referrals": 1, "follow_up": False}
    assert not any(word in logged["raw"].decode() for word in ("phone", "15-30m", "support_given", '"eap"'))
    # Nothing confidential reached any topic the services write, nor any log line: no narrative, patient
    # identifier, staff id or contact detail, nor the colleague's directory name or phone (those only on the
    # supporter's HTML pages). (The hospital's own intake topics are the source, not ours.)
    forbidden = [secret, "DEMO-MRN-1", "E-200", f"{tag}@hospital.example", "+1416555000", *COLLEAGUE, "416 555 0100"]
    forbidden += [s["staff_id"] for s in demo.SUPPORTERS]
    intake = {topics.OCCURRENCE_REPORTS, topics.SAFETY_HUDDLES, topics.FHIR_ADVERSE_EVENTS}
    for topic in set(topics.ALL_TOPICS) - intake:
        for m in await read_topic(stack.bootstrap or "", topic, count=100_000, timeout=3):
            raw = m["raw"].decode(errors="replace") + " " + " ".join(m["headers"].values())
            leaked = [f for f in forbidden if f in raw]
            assert not leaked, f"{topic} carries {leaked}"
    for svc in stack.services.values():
        text = svc.log_path.read_text(errors="replace")
        leaked = [f for f in forbidden if f in text]
        assert not leaked, f"{svc.name} log carries {leaked}"
