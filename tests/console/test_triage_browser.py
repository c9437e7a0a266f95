"""The triage page in a real browser (Debian's Chromium, Playwright) against a real listener: a coordinator opens a
held FHIR AdverseEvent from the queue, attaches a person and dispatches it from the keyboard; the listener
publishes it once and the item leaves the queue. No axe-core violation on the queue or the item page. The
1280x800 screenshot goes to docs/screenshots only with PSP_UPDATE_SCREENSHOTS=1 (else tests/artifacts)."""

from __future__ import annotations

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page

from tests.console.stack import Stack, stack  # noqa: F401  (fixture)
from tests.console.test_browser import SCREENSHOTS, browser, new_page  # noqa: F401  (fixture)
from tests.console.test_triage_pages import published, send


async def violations(page: Page) -> list[str]:
    """Every axe-core violation, whatever its impact."""
    results = await Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in results.response["violations"]]


async def test_a_coordinator_dispatches_a_held_report_from_the_page(stack: Stack, browser: Browser) -> None:  # noqa: F811
    held = await send(stack, "fhir")
    await send(stack, "/v1/occurrence-reports", report_id="T-B")  # a second item stays in the queue
    problems: list[str] = []
    page = await new_page(browser, problems)
    await page.goto(stack.site.console + "/triage")
    await page.get_by_role("button", name="Sign in as Casey Demo").click()
    await page.get_by_role("heading", name="Triage", exact=True).wait_for()
    assert await violations(page) == []
    assert "2" in await page.get_by_role("table", name="Items by decision").get_by_role("row").nth(1).inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "console-triage.png"))

    await page.get_by_role("link", name=f"Item {held['triage_id'][:8]}").click()
    await page.get_by_role("heading", name="Attach people and dispatch").wait_for()
    assert await violations(page) == []
    await page.get_by_label("Staff id", exact=True).first.fill("E-9001")
    await page.get_by_label("Role (optional)").first.fill("rn")
    await page.get_by_label("Facility").fill("GEN")
    await page.get_by_role("button", name="Dispatch").focus()
    await page.keyboard.press("Enter")  # keyboard only
    await page.get_by_text("Dispatched: the report is on its way").wait_for()
    assert "1 person attached" in await page.locator(".facts").inner_text()
    assert await page.get_by_role("button", name="Dispatch").count() == 0
    assert await violations(page) == []
    assert len(await published(stack)) == 1

    await page.get_by_role("link", name="Back to the triage queue").click()
    await page.get_by_role("heading", name="Queue").wait_for()
    assert await page.get_by_role("link", name=f"Item {held['triage_id'][:8]}").count() == 0
    assert await page.locator("table.triage tbody tr").count() == 1
    assert problems == []
