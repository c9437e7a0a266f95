"""The console on the running stack, in Chromium: a report posted to the listener appears on the live board within
seconds (htmx polling), the case page shows the candidates and why, and a re-match and the assignment of a
named supporter from it supersede the assignment. The services, the dev identity provider and the console run as
separate processes, as in make run.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, async_playwright

from psp_common import demo
from psp_common.devrun import LINKS_FILE, fetch_dev_token
from psp_common.stack import APPS, Stack
from tests.e2e.conftest import running_stack

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / (
    "docs/screenshots" if os.environ.get("PSP_UPDATE_SCREENSHOTS") == "1" else "tests/artifacts"
)
WAIT_MS = 45_000  # an upper bound for the pipeline on a loaded 2-core machine; the board polls every 5 s


@pytest.fixture
async def console_stack(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_admin_dsn: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    links = {"PSP_DEV_LINKS_FILE": str(tmp_path / LINKS_FILE)}
    async with running_stack(kafka_bootstrap, kafka_idempotence, pg_admin_dsn, tmp_path, links, APPS) as s:
        yield s


async def roster(stack: Stack) -> None:
    token = await asyncio.to_thread(fetch_dev_token, stack.url("devidp"), ["coordinator"], "e2e-coordinator")
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
        for s in demo.SUPPORTERS:  # a high cap: other tests' cases on the session broker may be matched here too
            r = await client.post(
                f"{stack.url('matching')}/v1/supporters", json={**s, "max_assignments_per_month": 100}
            )
            assert r.status_code in (200, 201), r.text
            r = await client.put(
                f"{stack.url('notification')}/v1/contacts/{s['staff_id']}",
                json={"channels": [{"kind": "console", "address": "console"}]},
            )
            assert r.status_code in (200, 201, 204), r.text


async def report(stack: Stack, unit: str) -> None:
    token = await asyncio.to_thread(fetch_dev_token, stack.url("devidp"), ["intake"], "e2e-intake")
    body = {**demo.reports()[0], "report_id": f"E2E-{uuid.uuid4().hex[:8]}", "unit": unit}
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
        r = await client.post(f"{stack.url('listener')}/v1/occurrence-reports", json=body)
    assert r.status_code == 202, r.text


async def serious(page: Page) -> list[str]:
    results = await Axe().run(page)
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


async def test_a_report_appears_on_the_live_board_and_is_rematched_and_assigned_from_its_case_page(
    console_stack: Stack,
) -> None:
    stack = console_stack
    await roster(stack)
    unit = f"U{uuid.uuid4().hex[:5].upper()}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            await page.goto(stack.url("console") + "/board")
            await page.get_by_role("button", name="Sign in as Casey Demo").click()
            await page.get_by_role("heading", name="Live board").wait_for()
            # the session's broker may hold other tests' cases; this report's unit is not on the board yet
            assert await page.locator("#board tbody tr", has_text=unit).count() == 0
            assert await serious(page) == []

            await report(stack, unit)  # the page is not reloaded: the row arrives through htmx polling
            # the case shows as soon as outreach is requested; wait until matching's pick (a pseudonym) is on it
            row = page.locator("#board tbody tr", has_text=unit).filter(has_text="ps_")
            await row.wait_for(timeout=WAIT_MS)
            assert page.url == stack.url("console") + "/board"
            text = await row.inner_text()
            assert "GEN" in text and " ago" in text and "ps_" in text and "Peer " not in text  # pseudonyms only
            assert "Demo narrative" not in await page.content() and "DEMO-MRN" not in await page.content()
            assert await serious(page) == []
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "console-board.png"), full_page=True)

            await row.get_by_role("link").click()
            await page.get_by_role("heading", name="Candidates").wait_for()
            await page.get_by_role("table").filter(has_text="primary").wait_for(timeout=WAIT_MS)
            main = await page.locator("main").inner_text()
            assert ("Peer " in main and "on shift" in main.lower()) or "Peer " in main  # names and reasons
            assert "Supporter paged" in main or "Page to a supporter" in main
            assert await serious(page) == []
            await page.screenshot(path=str(SCREENSHOTS / "console-case.png"), full_page=True)

            await page.get_by_label("Discipline").select_option("any")
            await page.get_by_role("button", name="Re-match").click()
            await page.get_by_text("Re-matched:").wait_for()
            await page.get_by_text("Earlier assignments (1)").wait_for()
            assert "superseded" in (await page.locator("details").text_content() or "")
            assert "any discipline preferred" in await page.locator("main").inner_text()

            chosen = next(s["display_name"] for s in demo.SUPPORTERS if "physician" in s["display_name"])
            ref = await page.locator("#supporter_ref option", has_text=chosen).get_attribute("value")
            await page.get_by_label("Supporter who agreed to take it").select_option(ref)
            await page.get_by_role("button", name="Assign").click()
            await page.get_by_text("Assigned:").wait_for()
            await page.get_by_text("Earlier assignments (2)").wait_for()
            team = page.get_by_role("table").filter(has_text="primary")
            first_row = await team.get_by_role("row").nth(1).inner_text()
            assert chosen in first_row and "assigned by the coordinator" in first_row
            assert await serious(page) == []
            assert problems == []
        finally:
            await browser.close()
