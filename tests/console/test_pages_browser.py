"""Evaluation, safety calls and the audit log in Chromium (Playwright) against the real services: the charts are
drawn (bars for the seeded figures, "<5" markers for suppressed cells), keyboard reachable, no serious or critical
axe-core violation; a supporter cannot open the audit log. Screenshots at 1280x800 (docs/screenshots when
PSP_UPDATE_SCREENSHOTS=1, else tests/artifacts)."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import Browser, Page

from tests.console.stack import Stack, open_case, seed_evaluation, stack  # noqa: F401  (fixture)
from tests.console.test_browser import SCREENSHOTS, browser, new_page, serious  # noqa: F401  (fixture)


async def signed_in(browser: Browser, stack: Stack, path: str, who: str, problems: list[str]) -> Page:  # noqa: F811
    page = await new_page(browser, problems)
    await page.goto(stack.site.console + path)
    await page.get_by_role("button", name=f"Sign in as {who}").click()
    return page


async def test_the_evaluation_page_draws_its_charts(stack: Stack, browser: Browser) -> None:  # noqa: F811
    await seed_evaluation(stack, datetime(2026, 9, 1, tzinfo=UTC))
    problems: list[str] = []
    page = await signed_in(browser, stack, "/evaluation?from=2026-09&to=2026-11", "Alex Demo", problems)
    await page.get_by_role("heading", name="Evaluation", level=1).wait_for()
    charts = page.locator("svg.bars")
    assert await charts.count() == 6
    encounters = page.get_by_role("img", name="Encounters per month by outcome")
    assert await encounters.count() == 1
    assert await encounters.locator("rect.bar").count() == 7  # 9 cells, 2 suppressed in October
    marked = await encounters.locator("text.suppressed").all_text_contents()  # each with its <title> first
    assert len(marked) == 2 and all(m.startswith("2026-10, Support") and m.endswith(")<5") for m in marked)
    heights = await encounters.locator("rect.bar").evaluate_all("rs => rs.map(r => Number(r.getAttribute('height')))")
    assert sum(1 for h in heights if h > 0) == 1  # only September's 6 given; the other drawn cells are zero
    ticks = await encounters.locator("text.tick").all_text_contents()
    assert {"2026-09", "2026-10", "2026-11"} <= set(ticks)
    box = await encounters.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200  # drawn at a readable size
    first_contact = page.get_by_role("img", name="Time to first contact")
    assert await first_contact.locator("rect.bar").count() == 6
    # the data table alternative opens from the keyboard
    summary = page.get_by_text("Data table: Encounters per month by outcome")
    await summary.focus()
    await page.keyboard.press("Enter")
    table = page.get_by_role("table", name="Encounters per month by outcome")
    assert await table.get_by_role("row", name="2026-10 <5 <5 0").count() == 1
    assert await serious(page) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.keyboard.press("Enter")  # closed again for the picture
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(SCREENSHOTS / "console-evaluation.png"))
    await page.set_viewport_size({"width": 390, "height": 844})  # a phone: no sideways scrolling of the page
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert problems == []


async def test_safety_calls_and_audit_for_coordinators_only(stack: Stack, browser: Browser) -> None:  # noqa: F811
    await open_case(stack, datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
    await open_case(stack, datetime(2026, 11, 22, 15, 30, tzinfo=UTC), unit="ED")
    problems: list[str] = []
    page = await signed_in(browser, stack, "/safety-calls", "Casey Demo", problems)
    await page.get_by_role("heading", name="Safety calls", level=1).wait_for()
    await page.get_by_label("Facility code").fill("GEN")
    await page.get_by_label("Day").fill("2026-11-22")
    await page.get_by_label("Day").press("Enter")
    await page.get_by_role("heading", name="Morning call · GEN · Sun 22 Nov 2026").wait_for()
    assert await page.get_by_role("table", name="1 flagged event for the morning call").count() == 1
    assert await serious(page) == []
    await page.screenshot(path=str(SCREENSHOTS / "console-safety-calls.png"))
    await page.emulate_media(media="print")
    assert not await page.get_by_role("navigation", name="Main").is_visible()  # the print stylesheet
    await page.emulate_media(media="screen")
    await page.get_by_role("link", name="Print view").click()
    await page.get_by_role("heading", name="Safety calls", level=1).wait_for()
    assert await page.get_by_role("navigation", name="Main").count() == 0
    assert await serious(page) == []
    await page.goto(stack.site.console + "/audit")
    await page.get_by_role("heading", name="Audit log", level=1).wait_for()
    await page.get_by_label("Service").select_option("notification")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("table", name="Audit entries").wait_for()
    assert set(await page.locator("table.audit tbody td:nth-child(2)").all_text_contents()) == {"notification"}
    assert await serious(page) == []
    supporter = await signed_in(browser, stack, "/audit", "Sam Demo", problems)
    await supporter.get_by_role("heading", name="Not for your role").wait_for()
    assert await supporter.get_by_role("table").count() == 0
    assert await supporter.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").count() == 0
    assert await serious(supporter) == []
    assert [p for p in problems if "403" not in p] == []
