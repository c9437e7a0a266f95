"""The rules page in Chromium (Playwright): a coordinator runs a sample report on the active rules and a draft
side by side (htmx) and sees the fired rule; keyboard reach and no serious or critical axe-core violation.

Screenshot (1280x800) to docs/screenshots/console-rules.png only with PSP_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser

from tests.clock import PinnedClock
from tests.console.conftest import Site
from tests.console.rules_backend import console_with_rules
from tests.console.test_browser import SCREENSHOTS, browser, new_page, serious

__all__ = ["browser"]


@pytest.fixture
async def rules_site(tmp_path: Path, idp_url: str, pinned_clock: PinnedClock) -> AsyncIterator[tuple[Site, FastAPI]]:
    async with console_with_rules(tmp_path, idp_url, pinned_clock) as both:
        yield both


async def test_a_coordinator_runs_a_dry_run_on_the_rules_page(
    rules_site: tuple[Site, FastAPI], browser: Browser
) -> None:
    site, _ = rules_site
    problems: list[str] = []
    page = await new_page(browser, problems)
    await page.goto(site.console + "/rules")
    await page.get_by_role("button", name="Sign in as Casey Demo").click()
    await page.get_by_role("heading", name="Rules", exact=True).wait_for()
    assert await serious(page) == []
    await page.get_by_role("link", name="default", exact=True).click()
    await page.get_by_role("heading", name="Rules: default").wait_for()
    await page.get_by_role("button", name="Start a draft from these rules").click()
    await page.get_by_role("heading", name="Edit draft: default").wait_for()
    editor = page.get_by_label("Draft rule set (YAML)")
    text = await editor.input_value()
    await editor.fill(
        text + "  - id: any-fall\n    text: Any fall on a unit\n    when: {categories_any: [fall]}\n"
        "    urgency: within_days\n    tier: 1\n    colour: red\n"
    )
    await page.get_by_role("button", name="Check without saving").click()
    problems_list = page.locator("ul.problems")
    await problems_list.wait_for()
    assert "<extra field>" in await problems_list.inner_text() and "Line" in await problems_list.inner_text()
    fixed = (await editor.input_value()).replace("    colour: red\n", "")
    await editor.fill(fixed)
    await page.get_by_role("button", name="Save draft").click()
    await page.get_by_role("heading", name="Ready to publish").wait_for()
    assert await serious(page) == []
    await page.goto(site.console + "/rules/default")
    await page.get_by_label("Harm level").select_option("no_harm")
    await page.get_by_label("Category (optional)").fill("fall")
    await page.get_by_label("Staff involved").fill("3")
    await page.get_by_role("button", name="Run the sample").focus()
    await page.keyboard.press("Enter")  # keyboard only
    results = page.get_by_role("heading", name="What the rules would decide")
    await results.wait_for()
    draft_panel = page.get_by_role("region", name="Draft")
    active_panel = page.get_by_role("region", name="Active rules")
    assert "any-fall" in await draft_panel.inner_text() and "Would publish" in await draft_panel.inner_text()
    assert "No rule fired" in await active_panel.inner_text()
    assert page.url == site.console + "/rules/default"  # htmx swapped the section in place
    assert await serious(page) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await results.scroll_into_view_if_needed()
    await page.screenshot(path=str(SCREENSHOTS / "console-rules.png"))
    await page.goto(site.console + "/rules/default/diff?from=active&to=draft")
    await page.get_by_text("Added:").wait_for()
    assert await serious(page) == []
    await page.goto(site.console + "/rules/default/publish")
    await page.get_by_role("button", name="Publish revision 2 now").click()
    await page.get_by_text("it is now the active rule set").wait_for()
    assert await serious(page) == []
    assert problems == []
