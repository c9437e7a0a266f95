"""Every console page in Chromium, for every demo role, against the four real services (demo-like data: the demo
roster, a matched case with candidates, two more open cases on the board).

For each role (the dev provider's demo accounts) and each page its role may open (the nav entries of
``domain.access.PAGES``, plus a case page and the service status for coordinators): HTTP 200 and not an error page;
no serious or critical axe-core violation; a skip link that is the first Tab stop, visible when focused, and moves
focus to main; every form control has an accessible name and is reachable by keyboard; no sideways scrolling on a
phone (390x844) nor at 1280x800, with body text of at least 16 px. Screenshots of the board and the case page at
1280x800 (docs/screenshots when PSP_UPDATE_SCREENSHOTS=1, else tests/artifacts).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from playwright.async_api import Browser, Page

from psp_common import demo
from psp_console.devidp.accounts import ACCOUNTS
from psp_console.domain.access import PAGES
from psp_matching import set_based
from psp_notification import consumed as notification_consumed
from tests.clock import TEST_NOW
from tests.console.stack import Stack, _handle, open_case, stack  # noqa: F401  (fixture)
from tests.console.test_browser import SCREENSHOTS, browser, new_page, serious  # noqa: F401  (fixture)
from tests.notification.support import matched
from tests.notification.test_feeds import requested

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
ERROR_TITLES = {"Something did not work", "Not found", "Form refused", "Not for your role", "Case not found"}

UNNAMED_CONTROLS = """() => {
  const named = (el) => {
    if (el.getAttribute('aria-label')?.trim()) return true;
    const by = el.getAttribute('aria-labelledby');
    if (by && by.split(/\\s+/).some(id => document.getElementById(id)?.textContent.trim())) return true;
    if (el.labels && [...el.labels].some(l => l.textContent.trim())) return true;
    if (el.title?.trim()) return true;
    if (el.tagName === 'BUTTON' && el.textContent.trim()) return true;
    if (el.tagName === 'INPUT' && ['submit', 'button', 'reset'].includes(el.type) && el.value.trim()) return true;
    return false;
  };
  const controls = [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')];
  return controls.filter(el => el.getClientRects().length > 0)
    .filter(el => !named(el) || el.tabIndex < 0)
    .map(el => `${el.tagName.toLowerCase()} name=${el.name || ''} id=${el.id || ''}`);
}"""
SIDEWAYS = "document.documentElement.scrollWidth > window.innerWidth + 1"


async def seed(stack: Stack) -> str:  # noqa: F811
    """The demo roster in matching, one case matched by matching itself (candidates and reasons) and paged by
    notification, and two more open cases on the board. The matched case's id."""
    token = await stack.token("coordinator")
    base = stack.site.app.state.console.settings.matching_url
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
        for s in demo.SUPPORTERS:
            assert (await api.post("/v1/supporters", json=s)).status_code == 201
        at = TEST_NOW - timedelta(minutes=40)
        req = requested(at, unit="ICU")
        m = stack.container("matching")
        async with m.runtime.uow() as uow:
            await set_based.on_outreach_requested_many([req], uow, m.deps)
            await uow.commit()
        case = (await api.get(f"/v1/cases/{req.case_id}")).json()
    candidates = case["assignments"][0]["candidates"]
    primary = case["assignments"][0]["primary_ref"]
    backups = tuple(c["supporter_ref"] for c in candidates if c["role"] == "backup")
    n = stack.container("notification")
    await _handle(n, notification_consumed.requested, req, at)
    paged = matched(
        primary=primary,
        backups=backups,
        urgency="immediate",
        case_id=req.case_id,
        correlation_id=req.correlation_id,
        occurred_at=at,
        assignment_id=uuid.UUID(case["assignment_id"]),
    )
    await _handle(n, notification_consumed.matched, paged, n.settings, at)
    await open_case(stack, TEST_NOW - timedelta(hours=3), unit="ED")
    await open_case(stack, TEST_NOW - timedelta(hours=26), unit="PICU")
    return str(req.case_id)


def paths_for(role: str, case_id: str) -> list[str]:
    scopes = frozenset(ACCOUNTS[role].roles)
    paths = [p.path for p in PAGES.values() if p.in_nav and p.allows(scopes)]
    return paths + ([f"/cases/{case_id}"] if PAGES["case"].allows(scopes) else [])


async def check_page(page: Page, url: str) -> list[str]:
    """What is wrong with the page at ``url`` (empty: nothing)."""
    found: list[str] = []
    await page.set_viewport_size(DESKTOP)
    response = await page.goto(url)
    if response is None or response.status != 200:
        return [f"HTTP {response.status if response else 'none'}"]
    title = (await page.locator("main h1").first.inner_text()).strip()
    if title in ERROR_TITLES:
        found.append(f"error page: {title}")
    found += [f"axe {v}" for v in await serious(page)]
    found += [f"unnamed or unreachable control: {c}" for c in await page.evaluate(UNNAMED_CONTROLS)]
    if await page.evaluate(SIDEWAYS):
        found.append("scrolls sideways at 1280x800")
    if await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") < 16:
        found.append("body text under 16 px")
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    if not await page.evaluate("document.activeElement.classList.contains('skip')"):
        found.append("the first Tab stop is not the skip link")
    box = await skip.bounding_box()
    if box is None or box["x"] < 0 or box["y"] < 0 or box["width"] < 10:
        found.append("the focused skip link is not visible")
    await page.keyboard.press("Enter")
    if await page.evaluate("document.activeElement.id") != "main":
        found.append("the skip link does not move focus to main")
    await page.set_viewport_size(PHONE)
    if await page.evaluate(SIDEWAYS):
        wide = await page.evaluate(
            """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right >
              window.innerWidth + 1 && !e.closest('.table-wrap')).slice(0, 4).map(e => e.tagName + '.' + e.className)"""
        )
        found.append(f"scrolls sideways on a phone (390x844): {wide}")
    return found


async def test_every_page_for_every_role_is_usable(stack: Stack, browser: Browser) -> None:  # noqa: F811
    case_id = await seed(stack)
    problems: list[str] = []
    report: dict[str, list[str]] = {}
    visited: dict[str, list[str]] = {}
    for role, account in ACCOUNTS.items():
        page = await new_page(browser, problems)
        await page.goto(stack.site.console + "/")
        await page.get_by_role("button", name=f"Sign in as {account.name}").click()
        await page.get_by_role("heading", name="Home", level=1).wait_for()
        visited[role] = paths_for(role, case_id)
        for path in visited[role]:
            found = await check_page(page, stack.site.console + path)
            if found:
                report[f"{role} {path}"] = found
        await page.context.close()
    assert report == {}, "\n".join(f"{k}: {v}" for k, v in report.items())
    assert {"/", "/board", "/status", "/shifts", "/directory", "/opt-outs", f"/cases/{case_id}"} <= set(
        visited["coordinator"]
    )
    assert visited["supporter"] == ["/"] or "/board" not in visited["supporter"]
    assert "/evaluation" in visited["analyst"] and "/board" not in visited["analyst"]
    assert problems == []


async def test_screenshots_of_the_board_and_a_case(stack: Stack, browser: Browser) -> None:  # noqa: F811
    case_id = await seed(stack)
    problems: list[str] = []
    page = await new_page(browser, problems)
    await page.goto(stack.site.console + "/board")
    await page.get_by_role("button", name="Sign in as Casey Demo").click()
    await page.get_by_role("heading", name="Live board", level=1).wait_for()
    rows = page.locator("#board tbody tr")
    assert await rows.count() == 3
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "console-board.png"))
    await page.goto(f"{stack.site.console}/cases/{case_id}")
    await page.get_by_role("heading", name=f"Case {case_id[:8]}", level=1).wait_for()
    assert "Peer" in await page.locator("main").inner_text()  # the demo roster's candidates, by name
    await page.screenshot(path=str(SCREENSHOTS / "console-case.png"))
    assert problems == []
