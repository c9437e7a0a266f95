"""The supporter page in a real browser (Debian's Chromium driven by Playwright) at a phone viewport: open the
page link, acknowledge, see the colleague's name and number, log an encounter, close; no serious or critical
axe-core violation.

`make test` installs Chromium first (apt); this test is never skipped.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, async_playwright

from tests.notification.support import Env, app_env
from tests.notification.test_supporter_page import ANA, listed, paged

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
# Artifacts of each run (git-ignored); PSP_UPDATE_SCREENSHOTS=1 refreshes the copy in docs/screenshots.
SCREENSHOTS = Path(__file__).resolve().parents[2] / (
    "docs/screenshots" if os.environ.get("PSP_UPDATE_SCREENSHOTS") == "1" else "tests/artifacts"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(sqlite_url: str) -> AsyncIterator[tuple[Env, str]]:
    """The app (fake clock, recording channels) served by uvicorn in a thread; (env, base URL)."""
    async with app_env(sqlite_url, coordinator_phone="+1 416 555 0100") as env:
        await listed(env, "ps_colleague", ANA)
        await env.c.runtime.engine.dispose()  # the server thread's loop opens its own connections
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(env.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
        )

        async def serve() -> None:
            try:
                await server.serve()
            finally:
                await env.c.runtime.engine.dispose()

        thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
        thread.start()
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        try:
            yield env, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.to_thread(thread.join, 10)


async def serious(page: Page) -> list[str]:
    results = await Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core"
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


async def test_phone_browser_opens_the_link_acknowledges_sees_the_colleague_logs_an_encounter_and_closes(
    served: tuple[Env, str],
) -> None:
    env, base = served
    ack = (await paged(env))["ack"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="en-CA")
            page = await context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            await page.goto(base + ack)
            await page.get_by_role("heading", name="Peer support needed").wait_for()
            assert "Within hours" in await page.locator("main").inner_text()
            take = page.get_by_role("button", name="I'll take it")
            assert await take.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(11, 83, 148)"  # CSS ran
            assert (await take.bounding_box() or {}).get("height", 0) >= 44  # a thumb-sized target
            assert await serious(page) == []
            await take.click()
            await page.get_by_role("heading", name="Your peer support case").wait_for()
            assert page.url.startswith(base + "/v1/pages/") and page.url.endswith("/case")
            text = await page.locator("main").inner_text()
            assert "Ana Ruiz" in text and "+14165550142" in text and "Registered nurse" in text
            assert await page.get_by_role("link", name="+14165550142").get_attribute("href") == "tel:+14165550142"
            assert await serious(page) == []
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "supporter-page.png"), full_page=True)
            case_url = page.url
            await page.get_by_label("How", exact=True).select_option("phone")
            await page.get_by_label("How long").select_option("15-30m")
            await page.get_by_label("Outcome").select_option("support_given")
            await page.get_by_label("EAP").check()
            await page.get_by_role("button", name="Log encounter").click()
            await page.get_by_role("heading", name="Your peer support case").wait_for()
            assert page.url == case_url and "Marked as reached" in await page.locator("main").inner_text()
            await page.get_by_role("button", name="Close the case").click()
            await page.get_by_text("This case is closed.").wait_for()
            assert await page.locator("form").count() == 0 and "Ana Ruiz" not in await page.content()
            await page.screenshot(path=str(SCREENSHOTS / "supporter-page-closed.png"), full_page=True)
            assert problems == [], "no console errors (CSP refusals included)"
        finally:
            await browser.close()
