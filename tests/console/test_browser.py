"""The console in a real browser (Debian's Chromium driven by Playwright), signing in through the dev identity
provider: a coordinator reaches the home page, a supporter gets the 403 page on a coordinator page, a signed-out
visit goes to sign-in; no serious or critical axe-core violation on any of these pages.

`make test` installs Chromium first (apt); this test is never skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright

from tests.console.conftest import Site

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / (
    "docs/screenshots" if os.environ.get("PSP_UPDATE_SCREENSHOTS") == "1" else "tests/artifacts"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


async def serious(page: Page) -> list[str]:
    results = await Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core"
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


async def new_page(browser: Browser, problems: list[str]) -> Page:
    context = await browser.new_context(viewport=DESKTOP, locale="en-CA")
    page = await context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return page


async def test_a_coordinator_signs_in_and_sees_the_home_page(site: Site, browser: Browser) -> None:
    problems: list[str] = []
    page = await new_page(browser, problems)
    await page.goto(site.console + "/")
    await page.get_by_role("heading", name="Choose a demo account").wait_for()
    assert page.url.startswith(site.idp + "/authorize?")  # signed out: sent to sign-in
    assert await serious(page) == []
    await page.get_by_role("button", name="Sign in as Casey Demo").click()
    await page.get_by_role("heading", name="Home").wait_for()
    assert page.url == site.console + "/"
    main = await page.locator("main").inner_text()
    assert "Signed in as Casey Demo, PSP coordinator" in main
    nav = page.get_by_role("navigation", name="Main")
    assert await nav.get_by_role("link", name="Service status").count() == 1
    assert await serious(page) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "console-home.png"), full_page=True)
    await page.keyboard.press("Tab")  # the first stop is the skip link, and it lands on main
    assert await page.evaluate("document.activeElement.textContent") == "Skip to main content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    await nav.get_by_role("link", name="Service status").click()
    await page.get_by_role("heading", name="Service status").wait_for()
    assert await page.get_by_role("cell", name="The listener service cannot be reached").count() == 1
    assert await serious(page) == []
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("heading", name="Signed out").wait_for()
    await page.goto(site.console + "/status")
    await page.get_by_role("heading", name="Choose a demo account").wait_for()
    assert problems == []


async def test_a_supporter_gets_the_403_page_on_a_coordinator_page(site: Site, browser: Browser) -> None:
    problems: list[str] = []
    page = await new_page(browser, problems)
    await page.goto(site.console + "/status")
    await page.get_by_role("button", name="Sign in as Sam Demo").click()
    await page.get_by_role("heading", name="Not for your role").wait_for()
    response = await page.reload()
    assert response is not None and response.status == 403
    text = await page.locator("main").inner_text()
    assert "for PSP coordinator accounts" in text and "signed in as Peer supporter" in text
    nav = page.get_by_role("navigation", name="Main")
    assert await nav.get_by_role("link", name="Service status").count() == 0
    assert await serious(page) == []
    assert [p for p in problems if "status of 403" not in p] == []  # the page itself is the 403
