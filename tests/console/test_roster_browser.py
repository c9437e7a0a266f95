"""The roster page in a real browser (Debian's Chromium, Playwright) against a real matching service: a coordinator
uploads a roster CSV with one bad row and sees that row's error beside the accepted count; the page has no serious
or critical axe-core violation, and works from the keyboard; a supporter matching refuses comes back with the reason
beside the field (its accessible description), still without an axe-core violation. The 1280x800 screenshot goes to
docs/screenshots only with PSP_UPDATE_SCREENSHOTS=1 (else tests/artifacts)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, FilePayload, async_playwright, expect

from tests.console.conftest import Staffed
from tests.console.test_act_pages import field_error, refusing
from tests.console.test_browser import ARGS, CHROMIUM, SCREENSHOTS, new_page, serious
from tests.console.test_roster_pages import supporter

ROSTER_CSV = (
    "staff_id,display_name,profession,seniority_level,site,max_assignments_per_month\n"
    "S-11,Robin Peer,rn,4,GEN,1\n"
    "S-12,Alex Peer,physician,5,GEN,\n"
    "S-13,Kim Peer,rt,eleven,GEN,\n"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


async def test_a_roster_csv_with_a_bad_row_shows_that_rows_error(staffed_site: Staffed, browser: Browser) -> None:
    site = staffed_site
    async with await site.coordinator() as api:
        await api.post(site.matching + "/v1/supporters", json=supporter("S-1", "Jordan Peer"))
        await api.post(site.matching + "/v1/supporters", json=supporter("S-2", "Casey Peer", site="NOR"))
        await api.post(site.matching + "/v1/supporters/S-2/pause")
        shift = {"staff_id": "S-1", "start": "2026-11-23T06:00:00-05:00", "end": "2026-11-23T18:00:00-05:00"}
        await api.post(site.matching + "/v1/shifts", json=[shift])
    problems: list[str] = []
    page = await new_page(browser, problems)
    await page.goto(site.console + "/roster")
    await page.get_by_role("button", name="Sign in as Casey Demo").click()
    await page.get_by_role("heading", name="Roster", exact=True).wait_for()
    assert await serious(page) == []

    await page.get_by_label("Roster file (CSV)").set_input_files(
        files=FilePayload(name="roster.csv", mimeType="text/csv", buffer=ROSTER_CSV.encode())
    )
    assert await page.get_by_label("Import the good rows even when other rows have problems").is_checked()
    await page.get_by_role("button", name="Import", exact=True).focus()
    await page.keyboard.press("Enter")  # keyboard only
    await page.get_by_role("heading", name="Roster import").wait_for()
    status = await page.locator(".report [role=status]").inner_text()
    assert "2 row(s) imported (2 added, 0 updated); 1 problem(s) in other rows" in status
    problems_table = page.get_by_role("table", name="Rows not imported (the header is row 1)")
    cells = await problems_table.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells[:2] == ["4", "seniority_level"] and "integer" in cells[2]
    roster = page.get_by_role("table", name="supporter(s)")
    robin = roster.get_by_role("row", name="Robin Peer")
    cells = await robin.get_by_role("cell").all_inner_texts()
    assert cells[:7] == ["S-11", "rn", "4", "GEN", "Active", "No", "0 of 1"]  # personal limit 1
    assert await robin.get_by_role("button", name="Step away Robin Peer").count() == 1
    jordan = await roster.get_by_role("row", name="Jordan Peer").get_by_role("cell").all_inner_texts()
    assert jordan[4:6] == ["Active", "Yes"]  # on shift now (07:00 in Toronto)
    assert await serious(page) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "console-roster.png"))

    await roster.get_by_role("button", name="Pause Robin Peer").click()
    await page.get_by_text("Paused: not matched until resumed.").wait_for()
    robin = page.get_by_role("table", name="supporter(s)").get_by_role("row", name="Robin Peer")
    assert "Paused" in await robin.inner_text()
    assert problems == []


async def test_a_refused_supporter_comes_back_with_the_reason_beside_the_field(
    staffed_site: Staffed, browser: Browser
) -> None:
    site = staffed_site
    refusing(
        site.app.state.console.backends.matching, "POST", "/v1/supporters", 422, field_error("site", "no such facility")
    )
    page = await new_page(browser, [])
    await page.goto(site.console + "/roster")
    await page.get_by_role("button", name="Sign in as Casey Demo").click()
    await page.get_by_role("heading", name="Roster", exact=True).wait_for()
    typed = {"staff_id": "S-5", "display_name": "Pat Peer", "profession": "rn", "seniority_level": "4", "site": "NOPE"}
    for name, value in typed.items():
        await page.locator(f"#f-{name}").fill(value)
    await page.get_by_role("button", name="Add to the roster").click()
    await page.get_by_text("The supporter was not added.").wait_for()
    facility = page.locator("#f-site")
    await expect(facility).to_have_accessible_description("Facility code, e.g. GEN. No such facility.")
    await expect(facility).to_have_attribute("aria-invalid", "true")
    await expect(facility).to_have_value("NOPE")
    alert = await page.get_by_role("alert").inner_text()
    assert "The supporter was not added." in alert and "Facility: no such facility." in alert
    assert await serious(page) == []
