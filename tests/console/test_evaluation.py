"""Evaluation page over real HTTP with real services: charts from rules and notification /v1/stats per month,
suppressed cells shown as "<5" (never as a number, never a bar), CSV downloads, month range, roles."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from tests.console.conftest import sign_in
from tests.console.stack import Stack, decide, open_case, seed_evaluation, stack  # noqa: F401  (fixture)

SEPT = datetime(2026, 9, 1, tzinfo=UTC)
RANGE = {"from": "2026-09", "to": "2026-11"}


def section(html: str, key: str) -> str:
    start = html.index(f'<section class="chart" id="chart-{key}"')
    return html[start : html.index("</section>", start)]


def bars(part: str) -> list[tuple[str, str, str]]:
    """(series, month, title) of each drawn bar."""
    found = re.findall(
        r'<rect class="bar"[^>]*data-series="([^"]+)" data-category="([^"]+)"><title>([^<]+)</title>', part
    )
    return [(s, m, t) for s, m, t in found]


def markers(part: str) -> list[str]:
    return re.findall(r'<text class="suppressed"[^>]*><title>([^<]+)</title>', part)


def table(part: str) -> list[list[str]]:
    rows = re.findall(r"<tr><th scope=\"row\">([^<]+)</th>(.*?)</tr>", part)
    return [[month, *re.findall(r"<td>([^<]*)</td>", cells)] for month, cells in rows]


async def test_charts_from_the_services_with_small_cells_suppressed(stack: Stack) -> None:  # noqa: F811
    await seed_evaluation(stack, SEPT)
    async with stack.site.client() as c:
        await sign_in(c, "analyst", "/evaluation")
        r = await c.get("/evaluation", params=RANGE)
    assert r.status_code == 200, r.text
    html = r.text
    assert re.findall(r'data-chart="(\w+)"', html) == [
        "triggers",
        "paging",
        "first_contact",
        "encounters",
        "referrals",
        "declined",
    ]
    for key in ("triggers", "paging", "first_contact", "encounters", "referrals", "declined"):
        part = section(html, key)
        assert 'role="img"' in part and f'aria-labelledby="chart-{key}-t chart-{key}-d"' in part
        assert "<title id=" in part and "<desc id=" in part and "Data table:" in part
        assert 'class="axis-label"' in part

    enc = section(html, "encounters")
    # October: 5 given + 2 declined: the 2 is suppressed, and the 5 with it (else 7 - 5 gives it back)
    assert table(enc) == [
        ["2026-09", "6", "0", "0"],
        ["2026-10", "&lt;5", "&lt;5", "0"],
        ["2026-11", "0", "0", "0"],
    ]
    assert sorted(markers(enc)) == [
        "2026-10, Support declined: &lt;5 (suppressed)",
        "2026-10, Support given: &lt;5 (suppressed)",
    ]
    drawn = bars(enc)
    assert len(drawn) == 7 and ("support_given", "2026-10") not in {(s, m) for s, m, _ in drawn}
    assert ("support_given", "2026-09", "2026-09, Support given: 6") in drawn

    ttfc = section(html, "first_contact")
    assert table(ttfc) == [
        ["2026-09", "20", "20", "20"],
        ["2026-10", "40", "40", "40"],
        ["2026-11", "none", "none", "none"],
    ]
    assert len(bars(ttfc)) == 6 and markers(ttfc) == []

    refs = section(html, "referrals")
    assert ["2026-10", "0", "0", "0", "0", "&lt;5"] in table(refs)  # one crisis referral: suppressed

    declined = section(html, "declined")
    assert table(declined) == [["2026-09", "0", "6"], ["2026-10", "&lt;5", "7"], ["2026-11", "0", "0"]]

    triggers = section(html, "triggers")  # cases (6, then 7), not the reports the rules decided (6, then 2)
    assert table(triggers) == [["2026-09", "6"], ["2026-10", "7"], ["2026-11", "0"]] and markers(triggers) == []


async def test_cases_by_trigger_count_cases_with_small_cells_suppressed(stack: Stack) -> None:  # noqa: F811
    for i in range(8):  # eight reports decided in September (the rules count reports per rule fired) ...
        await decide(stack, SEPT + timedelta(days=1, hours=i))
    for days, n in ((3, 5), (33, 2)):  # ... but five cases in September, two in October (each by harm.death)
        for i in range(n):
            await open_case(stack, SEPT + timedelta(days=days, hours=i))
    async with stack.site.client() as c:
        await sign_in(c, "analyst", "/evaluation")
        r = await c.get("/evaluation", params=RANGE)
        exported = await c.get("/evaluation/charts.csv", params=RANGE)
    triggers = section(r.text, "triggers")
    assert "Cases per month by trigger" in triggers and ">Cases</text>" in triggers
    assert table(triggers) == [["2026-09", "5"], ["2026-10", "&lt;5"], ["2026-11", "0"]]
    assert markers(triggers) == ["2026-10, harm.death: &lt;5 (suppressed)"]
    drawn = bars(triggers)
    assert ("harm.death", "2026-09", "2026-09, harm.death: 5") in drawn and "2026-10" not in {m for _, m, _ in drawn}
    rows = [x for x in csv.DictReader(io.StringIO(exported.text)) if x["chart"] == "Cases per month by trigger"]
    assert [(x["month"], x["series"], x["value"], x["suppressed"]) for x in rows] == [
        ("2026-09", "harm.death", "5", ""),
        ("2026-10", "harm.death", "", "yes"),
        ("2026-11", "harm.death", "0", ""),
    ]


async def test_reports_decided_but_not_paged_are_shown_per_month(stack: Stack) -> None:  # noqa: F811
    for i in range(6):  # a historical import in September: decided and counted, nobody paged
        await decide(stack, SEPT + timedelta(days=2, hours=i), historical=True)
    for i in range(5):  # October: five live reports, one of them too old to page for
        occurred = {"occurred_at": SEPT - timedelta(days=40)} if i == 0 else {}
        await decide(stack, SEPT + timedelta(days=32, hours=i), **occurred)
    async with stack.site.client() as c:
        await sign_in(c, "analyst", "/evaluation")
        r = await c.get("/evaluation", params=RANGE)
        exported = await c.get("/evaluation/charts.csv", params=RANGE)
    paging = section(r.text, "paging")
    assert "Decided, not paged" in paging and "Not paged (historical or too old)" in paging
    assert table(paging) == [["2026-09", "6", "6"], ["2026-10", "&lt;5", "5"], ["2026-11", "0", "0"]]
    rows = [row for row in csv.DictReader(io.StringIO(exported.text)) if row["chart"] == "Decided, not paged"]
    cells = {(x["month"], x["series"], x["value"]) for x in rows}
    assert ("2026-09", "Not paged (historical or too old)", "6") in cells


async def test_csv_downloads_keep_suppressed_cells_empty(stack: Stack) -> None:  # noqa: F811
    await seed_evaluation(stack, SEPT)
    async with stack.site.client() as c:
        await sign_in(c, "coordinator")
        mine = await c.get("/evaluation/charts.csv", params=RANGE)
        theirs = await c.get("/evaluation/monthly.csv", params=RANGE)
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
    assert 'filename="psp-evaluation-2026-09-2026-11.csv"' in mine.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(mine.text)))
    given = [r for r in rows if r["chart"] == "Encounters per month by outcome" and r["series"] == "Support given"]
    assert [(r["month"], r["value"], r["suppressed"]) for r in given] == [
        ("2026-09", "6", ""),
        ("2026-10", "", "yes"),
        ("2026-11", "0", ""),
    ]
    assert theirs.status_code == 200 and theirs.headers["content-type"].startswith("text/csv")
    monthly = list(csv.DictReader(io.StringIO(theirs.text)))
    assert [(m["month"], m["contacts"], m["support_given"]) for m in monthly] == [
        ("2026-09", "6", "6"),
        ("2026-10", "7", ""),
    ]


async def test_month_range_and_roles(stack: Stack) -> None:  # noqa: F811
    async with stack.site.client() as c:
        await sign_in(c, "analyst")
        empty = await c.get("/evaluation")  # default: the six months up to this one (November 2026)
        assert empty.status_code == 200
        assert 'value="2026-06"' in empty.text and 'value="2026-11"' in empty.text
        assert empty.text.count("Nothing to chart for these months") == 6  # every empty chart says what to do
        for params, field, message in (
            ({"from": "2026-13"}, "from", "First month must be a month"),
            ({"from": "2026-11", "to": "2026-09"}, "from", "must not be after"),
            ({"from": "2024-01", "to": "2026-11"}, "from", "at most 24 months"),
            ({"to": "nov"}, "to", "Last month must be a month"),
        ):
            r = await c.get("/evaluation", params=params)
            assert r.status_code == 400 and message in r.text
            assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', r.text), field
        assert (await c.get("/evaluation/charts.csv", params={"from": "x"})).status_code == 400
    async with stack.site.client() as c:
        await sign_in(c, "supporter")
        r = await c.get("/evaluation")
        assert r.status_code == 403 and "Evaluation analyst" in r.text
        assert (await c.get("/evaluation/monthly.csv")).status_code == 403


async def test_a_service_that_is_down_is_named_with_what_to_do(stack: Stack) -> None:  # noqa: F811
    stack.site.app.state.console.backends.rules.base_url = "http://127.0.0.1:9"
    async with stack.site.client() as c:
        await sign_in(c, "analyst")
        r = await c.get("/evaluation")
    assert r.status_code == 503 and "The rules service cannot be reached" in r.text
