"""Safety calls and the audit log viewer over real HTTP with real services (coordinators only)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from psp_console.domain.audit_view import Entry, format_cursor, merge, parse_cursor
from tests.console.conftest import sign_in
from tests.console.stack import Stack, open_case, stack  # noqa: F401  (fixture)
from tests.support import eventually


def rows(html: str, call: str) -> list[list[str]]:
    start = html.index(f'id="call-{call}"')
    part = html[start : html.index("</section>", start)]
    return [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>\s*(<td>.*?)</tr>", part, re.S)]


async def test_morning_and_evening_lists_in_the_facilitys_zone_and_printable(stack: Stack) -> None:  # noqa: F811
    await open_case(stack, datetime(2026, 11, 22, 3, 0, tzinfo=UTC))  # 22:00 Saturday in Toronto: morning call
    await open_case(stack, datetime(2026, 11, 22, 15, 30, tzinfo=UTC), unit="ED")  # 10:30 Sunday: evening call
    async with stack.site.client() as c:
        await sign_in(c, "coordinator")
        first = await c.get("/safety-calls")
        assert first.status_code == 200 and "Enter a facility code and a day" in first.text
        assert 'value="2026-11-23"' in first.text  # today in the facility's zone
        r = await c.get("/safety-calls", params={"facility": "GEN", "day": "2026-11-22"})
        assert r.status_code == 200, r.text
        morning, evening = rows(r.text, "morning"), rows(r.text, "evening")
        assert [row[:2] + row[3:6] for row in morning] == [["Sat 22:00", "ICU", "immediate", "individual", "assigned"]]
        assert [row[:2] for row in evening] == [["Sun 10:30", "ED"]]
        assert "harm.death" in morning[0][2]
        assert "Sat 21 Nov 19:00" in r.text and "Sun 22 Nov 07:00 EST" in r.text  # the windows, local
        assert "America/Toronto" in r.text and "Print view" in r.text
        printed = await c.get("/safety-calls/print", params={"facility": "GEN", "day": "2026-11-22"})
        assert printed.status_code == 200 and 'aria-label="Main"' not in printed.text
        assert [row[:6] for row in rows(printed.text, "morning")] == [row[:6] for row in morning]
        assert re.fullmatch(r'<a href="/cases/[0-9a-f-]{36}">[0-9a-f]{8}</a>', morning[0][6])  # to the case page
        assert re.fullmatch(r"[0-9a-f]{8}", rows(printed.text, "morning")[0][6])  # on paper: no link
        other = await c.get("/safety-calls", params={"facility": "WEST", "day": "2026-11-22"})
        assert other.text.count("No flagged events in this window") == 2
        bad = await c.get("/safety-calls", params={"facility": "GEN", "day": "22/11"})
        assert bad.status_code == 400 and "Day must be a date like" in bad.text
        assert re.search(r'id="day"[^>]*aria-invalid="true"', bad.text)
        assert (await c.get("/safety-calls", params={"facility": "G N"})).status_code == 400
    async with stack.site.client() as c:
        await sign_in(c, "analyst")
        assert (await c.get("/safety-calls")).status_code == 403


async def test_audit_viewer_merges_filters_and_pages(stack: Stack) -> None:  # noqa: F811
    token = await stack.token("coordinator")
    rules = stack.site.app.state.console.settings.rules_url
    async with httpx.AsyncClient(base_url=rules, headers={"Authorization": f"Bearer {token}"}) as api:
        for _ in range(55):
            assert (await api.get("/v1/decisions", params={"limit": 1})).status_code == 200
        assert (await api.get("/v1/rulesets/x%20y")).status_code == 422

        async def written() -> bool:  # a service writes its audit row just after answering
            r = await api.get("/v1/audit", params={"resource_contains": "/v1/decisions", "limit": 100})
            return len(r.json()["items"]) == 55

        await eventually(written, timeout=10)
    async with stack.site.client() as c:
        await sign_in(c, "coordinator")
        await c.get("/safety-calls", params={"facility": "GEN", "day": "2026-11-22"})  # audited by notification
        # one service, paged by cursor: the 55 reads of decisions, 50 then 5
        first = await c.get(
            "/audit", params={"service": "rules", "action": "get", "status": "2xx", "contains": "decisions"}
        )
        nxt = re.search(r'href="(/audit\?[^"]+cursor=[^"]+)" rel="next"', first.text)
        assert nxt is not None and first.text.count("<td>rules</td>") == 50
        second = await c.get(nxt.group(1).replace("&amp;", "&"))
        assert second.text.count("<td>rules</td>") == 5 and 'rel="next"' not in second.text
        assert "/v1/decisions" in second.text and "/v1/rulesets" not in second.text
        everything = await c.get("/audit")
        assert everything.status_code == 200
        sources = re.findall(r"<td>(console|listener|rules|matching|notification)</td>", everything.text)
        assert {"console", "notification", "rules"} <= set(sources) and len(sources) == 50
        assert "SIGNIN" in everything.text and "/v1/safety-calls/{facility}/{day}/{call}" in everything.text
        failed = await c.get("/audit", params={"status": "4xx", "contains": "rulesets"})
        assert failed.text.count("<td>422</td>") == 1 and failed.text.count("<td>rules</td>") == 1
        none = await c.get("/audit", params={"actor": "nobody"})
        assert "No entries match these filters" in none.text
        for params, message in (
            ({"status": "6xx"}, "Status must be"),
            ({"from": "yesterday"}, "From must be a date and time"),
            ({"service": "payroll"}, "Service must be one of"),
            ({"from": "2026-11-23T10:00", "to": "2026-11-23T09:00"}, "From must be before To"),
        ):
            r = await c.get("/audit", params=params)
            assert r.status_code == 400 and message in r.text
        window = await c.get("/audit", params={"from": "2026-11-01T00:00", "to": "2026-11-02T00:00"})
        assert "No entries match" in window.text  # nothing happened then (the test clock is 23 November)
    async with stack.site.client() as c:
        await sign_in(c, "supporter")
        refused = await c.get("/audit")
        assert refused.status_code == 403 and "PSP coordinator" in refused.text
    stack.site.app.state.console.backends.matching.base_url = "http://127.0.0.1:9"
    async with stack.site.client() as c:
        await sign_in(c, "coordinator")
        partial = await c.get("/audit")
        assert partial.status_code == 200 and "The matching service cannot be reached" in partial.text
        assert "<td>rules</td>" in partial.text


def entry(source: str, id_: int, minute: int) -> Entry:
    return Entry(source, id_, datetime(2026, 11, 23, 10, minute, tzinfo=UTC), "a", "GET", "/x", 200)


def page_through(logs: dict[str, list[Entry]], limit: int) -> list[tuple[str, int]]:
    """Every entry the viewer shows, paging on by cursor; each source answers by id like ``GET /v1/audit``."""
    sources = tuple(logs)
    seen: list[tuple[str, int]] = []
    cursor = parse_cursor(None, sources)
    for _ in range(20):
        pages = {
            s: sorted((e for e in logs[s] if not cursor[s] or e.id < cursor[s]), key=lambda e: e.id, reverse=True)[
                :limit
            ]
            for s in logs
            if cursor[s] != 0
        }
        taken, after = merge(pages, {s: cursor[s] for s in pages}, limit)
        seen += [(e.source, e.id) for e in taken]
        text = format_cursor({**cursor, **after})
        if text is None:
            return seen
        cursor = parse_cursor(text, sources)
    raise AssertionError("paging did not end")


def test_merge_pages_newest_first_without_skipping_or_repeating() -> None:
    logs = {
        "rules": [entry("rules", i, i) for i in range(1, 8)],
        "console": [entry("console", i, 10 + i) for i in range(1, 3)],
    }
    seen = page_through(logs, 3)
    assert seen == [("console", 2), ("console", 1)] + [("rules", i) for i in range(7, 0, -1)]
    assert parse_cursor("rules:5,evil:1,console:x", ("rules", "console")) == {"rules": 5, "console": None}


def test_a_row_written_late_is_neither_repeated_nor_skipped() -> None:
    """The flaky second page (10 rows, not 5): a service stamps a row's time and then inserts it, so under load
    the next requests' rows can take smaller ids. Here row 6 was stamped first but inserted last; sorting the
    page by time made it the page's last entry, the cursor ``before=6`` and the next page repeated 5 and 4."""
    late = [entry("rules", 6, 1)] + [entry("rules", i, i + 1) for i in range(1, 6)]
    assert page_through({"rules": late}, 3) == [("rules", i) for i in range(6, 0, -1)]
    both = {"rules": late, "console": [entry("console", 1, 4), entry("console", 2, 1)]}
    seen = page_through(both, 3)
    assert sorted(seen) == sorted({(e.source, e.id) for log in both.values() for e in log})  # each exactly once
    assert [i for s, i in seen if s == "rules"] == [6, 5, 4, 3, 2, 1]


def test_equal_times_across_the_page_boundary_are_each_shown_once() -> None:
    same = {s: [entry(s, i, 0) for i in range(1, 5)] for s in ("console", "rules", "matching")}
    for limit in (1, 2, 3, 5):
        seen = page_through(same, limit)
        assert sorted(seen) == sorted((s, i) for s in same for i in range(1, 5)), limit
        assert len(seen) == 12
