"""What-if on history (issue 17 item 4): a draft and the active rules each decide 2,000 stored, generated incident
versions in memory; the summary is cross-checked against the live handler deciding the same events one by one
into a database per rule set (PostgreSQL; clock injected, nothing reads the wall clock)."""

from __future__ import annotations

import dataclasses
import gc
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select, update

from psp_common.clock import ManualClock
from psp_common.events.intake import IncidentObserved
from psp_common.migrations import upgrade_async
from psp_rules import handlers, whatif
from psp_rules.adapters.facts import ANONYMOUS, anonymized
from psp_rules.adapters.orm import cases, decisions, incident_facts
from psp_rules.adapters.repository import OptOutRepository, RuleSetRepository
from psp_rules.adapters.ruleset_schema import DEFAULT_FILE, load_text
from psp_rules.bootstrap import MIGRATIONS, build
from psp_rules.domain.compare import SAME_RULES, compare
from psp_rules.domain.model import GroupPolicy
from psp_rules.settings import RulesSettings
from tests.clock import TEST_NOW
from tests.rules.history import history
from tests.support import auth_headers, create_database, drop_database

pytestmark = pytest.mark.postgres
N = 2000
YAML = {"content-type": "application/yaml"}
DEFAULT = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))


def draft_text(*, lower: bool = False, drop: str | None = None, urgent: bool = False, group: bool = False) -> str:
    """The packaged default with some changes."""
    doc = {k: v for k, v in DEFAULT.items()}
    rules = [dict(r) for r in DEFAULT["rules"] if r["id"] != drop]
    for r in rules:
        if lower and r["id"] == "harm-moderate-incident":
            r["when"] = {**r["when"], "harm_levels_any": ["moderate", "mild"]}
        if urgent and r["id"] == "stress-workplace-conflict":
            r["urgency"] = "within_hours"
    doc["rules"] = rules
    if group:
        doc["group"] = {"staff_more_than": 2, "units_at_least": 2}
    return yaml.safe_dump(doc, sort_keys=False)


EVENTS: list[IncidentObserved] = list(history(N, TEST_NOW))
OPTED_OUT = [EVENTS[3].staff[0].pseudonym, EVENTS[40].staff[0].pseudonym]


async def ingest(app: Any, events: list[IncidentObserved], draft: str | None = None) -> None:
    """The live path: opt-outs, then each event through the consumer's handler (batches of 250 per transaction)."""
    c = app.state.container
    async with c.runtime.uow() as uow:
        for name in OPTED_OUT:
            await OptOutRepository(uow.session).add(name, "all", TEST_NOW - timedelta(days=400))
        if draft is not None:  # publish the draft as the active rule set
            doc = load_text(draft)
            await RuleSetRepository(uow.session).add("default", doc.model_dump(mode="json"), draft, TEST_NOW)
        await uow.commit()
    for i in range(0, len(events), 250):
        async with c.runtime.uow() as uow:
            for ev in events[i : i + 250]:
                await handlers.on_incidents([ev], uow, c.config, ev.occurred_at + timedelta(hours=1))
            await uow.commit()


async def started(admin: str, events: list[IncidentObserved], draft: str | None = None) -> tuple[Any, str]:
    dsn, url = await create_database(admin)
    await upgrade_async(MIGRATIONS, url)
    app = build(RulesSettings(database_url=url, kafka_create_topics=False), clock=ManualClock(TEST_NOW))
    await ingest(app, events, draft)
    return app, dsn


@pytest.fixture(scope="module")
async def live(pg_admin_dsn: str) -> AsyncIterator[Any]:
    """One rules database that decided the generated history live (the packaged default rules)."""
    app, dsn = await started(pg_admin_dsn, EVENTS)
    yield app
    await app.state.container.runtime.engine.dispose()
    await drop_database(pg_admin_dsn, dsn.rsplit("/", 1)[1])


def client(app: Any, scopes: list[str] | None = None) -> httpx.AsyncClient:
    headers = auth_headers(app.state.runtime.settings, scopes or ["coordinator"]) if scopes != [] else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers)


async def run(app: Any, text: str, months: int = 6) -> dict[str, Any]:
    """Save ``text`` as the default draft and run the what-if."""
    async with client(app) as c:
        current = await c.get("/v1/rulesets/default/draft")
        revision = current.json()["revision"] if current.status_code == 200 else 0
        saved = await c.put("/v1/rulesets/default/draft", params={"revision": revision}, content=text, headers=YAML)
        assert saved.status_code == 200 and saved.json()["valid"], saved.text
        r = await c.post("/v1/rulesets/default/draft:what-if", params={"months": months})
    assert r.status_code == 200, r.text
    assert "ps_" not in r.text and "ref_" not in r.text  # counts only: no pseudonym, no incident
    body: dict[str, Any] = r.json()
    return body


async def test_every_decided_version_is_stored_once_with_its_facts(live: Any) -> None:
    async with live.state.container.runtime.session() as s:
        rows = (await s.execute(select(incident_facts))).all()
    assert len(rows) == N and len({(r.incident_ref, r.report_version) for r in rows}) == N
    first = next(r for r in rows if r.incident_ref == EVENTS[0].incident_ref and r.report_version == 1)
    assert first.people[0] == [EVENTS[0].staff[0].pseudonym, "k1", EVENTS[0].staff[0].role, "primary", []]
    in_order = [(r.incident_ref, r.report_version) for r in sorted(rows, key=lambda r: r.id)]
    assert in_order == [(e.incident_ref, e.report_version) for e in EVENTS]  # the order they were decided in


async def test_the_unchanged_rules_change_nothing(live: Any) -> None:
    body = await run(live, draft_text())
    assert body["report_versions"] == N and body["incidents"] == N - sum(e.report_version == 2 for e in EVENTS)
    assert body["added"] == {"cases": 0, "by_rule": {}} and body["removed"] == {"cases": 0, "by_rule": {}}
    assert body["urgency_changed"] == 0 and body["mode_changes"] == []
    assert body["active"]["cases"] == body["draft"]["cases"] > 100


async def test_a_lower_threshold_adds_cases_attributed_to_its_rule(live: Any) -> None:
    body = await run(live, draft_text(lower=True))
    added, removed = body["added"], body["removed"]
    assert added["by_rule"]["harm-moderate-incident"] > 0
    # a person's new case can absorb a later incident that opened its own case before: merging, not a rule; the
    # group modifier fires with the trigger on a large team
    assert set(added["by_rule"]) <= {"harm-moderate-incident", "group-intervention", SAME_RULES}
    assert set(removed["by_rule"]) <= {SAME_RULES}
    assert body["draft"]["cases"] == body["active"]["cases"] + added["cases"] - removed["cases"]
    assert (
        body["draft"]["rules_fired"]["harm-moderate-incident"] > body["active"]["rules_fired"]["harm-moderate-incident"]
    )
    moved = {(t["active"], t["draft"]) for t in body["urgency"] if t["active"] != t["draft"]}
    assert moved == {("none", "within_days")}


async def test_disabling_a_rule_removes_its_cases(live: Any) -> None:
    body = await run(live, draft_text(drop="harm-severe"))
    added, removed = body["added"], body["removed"]
    assert removed["by_rule"]["harm-severe"] > 0
    assert set(removed["by_rule"]) <= {"harm-severe", "group-intervention", SAME_RULES}
    assert set(added["by_rule"]) <= {SAME_RULES}
    assert body["active"]["rules_fired"]["harm-severe"] > 0 and "harm-severe" not in body["draft"]["rules_fired"]
    assert {(t["active"], t["draft"]) for t in body["urgency"] if t["active"] != t["draft"]} <= {
        ("within_hours", "none"),
        ("within_hours", "within_days"),
    }


async def test_urgency_and_mode_changes_are_counted(live: Any) -> None:
    body = await run(live, draft_text(urgent=True, group=True))
    urgency = {(t["active"], t["draft"]): t["incidents"] for t in body["urgency"]}
    conflicts = [e for e in _newest(EVENTS) if e.cis_flags == ("workplace_conflict",) and _only_conflict(e)]
    assert urgency[("within_days", "within_hours")] >= len(conflicts) > 0
    modes = {(t["active"], t["draft"]): t["incidents"] for t in body["mode_changes"]}
    assert modes.get(("individual", "group"), 0) > 0 and set(modes) == {("individual", "group")}
    assert body["added"]["by_rule"]["group-intervention"] > 0 and SAME_RULES in body["removed"]["by_rule"]
    assert body["urgency_changed"] == sum(n for (a, d), n in urgency.items() if a != d)


def _newest(events: list[IncidentObserved]) -> list[IncidentObserved]:
    newest: dict[str, IncidentObserved] = {}
    for e in events:
        if e.incident_ref not in newest or e.report_version > newest[e.incident_ref].report_version:
            newest[e.incident_ref] = e
    return list(newest.values())


def _only_conflict(e: IncidentObserved) -> bool:
    """No other default rule fires on it (harm and huddle rules)."""
    harm = e.harm_level.value if e.harm_level else None
    quiet = harm in (None, "mild", "no_harm") or (harm in ("moderate", "unknown") and e.event_class.value != "incident")
    return quiet and e.source_kind.value != "huddle" and len(e.staff) <= 2


async def test_the_window_counts_versions_by_event_time(live: Any) -> None:
    body = await run(live, draft_text(), months=1)
    since = whatif.months_before(TEST_NOW, 1)
    assert body["since"].startswith(since.date().isoformat())
    assert body["report_versions"] == sum(e.occurred_at >= since for e in EVENTS) < N


async def test_summary_equals_the_live_handler_deciding_each_incident_with_each_rule_set(
    live: Any, pg_admin_dsn: str
) -> None:
    text = draft_text(lower=True, drop="harm-severe", urgent=True, group=True)
    body = await run(live, text)
    other, dsn = await started(pg_admin_dsn, EVENTS, draft=text)  # the draft published, the same events live
    try:
        a, b = await _state(live), await _state(other)
    finally:
        await other.state.container.runtime.engine.dispose()
        await drop_database(pg_admin_dsn, dsn.rsplit("/", 1)[1])
    for side, st in (("active", a), ("draft", b)):
        assert body[side]["cases"] == len(st["cases"])
        assert body[side]["cases_by_urgency"] == dict(Counter(c["urgency"] for c in st["cases"].values()))
        assert body[side]["cases_by_mode"] == dict(Counter(c["mode"] for c in st["cases"].values()))
        assert body[side]["rules_fired"] == dict(Counter(r for d in st["fired"].values() for r in d))
    added, removed = set(b["cases"]) - set(a["cases"]), set(a["cases"]) - set(b["cases"])
    assert body["added"]["cases"] == len(added) > 0 and body["removed"]["cases"] == len(removed) > 0
    assert body["added"]["by_rule"] == _by_rule(added, b, a)
    assert body["removed"]["by_rule"] == _by_rule(removed, a, b)
    pairs = Counter((a["newest"][ref][0], b["newest"][ref][0]) for ref in a["newest"])
    assert {(t["active"], t["draft"]): t["incidents"] for t in body["urgency"]} == dict(pairs)
    modes = Counter(
        (a["newest"][r][1], b["newest"][r][1]) for r in a["newest"] if a["newest"][r][1] != b["newest"][r][1]
    )
    assert {(t["active"], t["draft"]): t["incidents"] for t in body["mode_changes"]} == dict(modes)


def _by_rule(only: set[str], mine: dict[str, Any], other: dict[str, Any]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for cid in only:
        version = mine["opened_by"][cid]
        rules = set(mine["fired"][version]) - set(other["fired"][version])
        out.update(rules or {SAME_RULES})
    return dict(sorted(out.items()))


async def _state(app: Any) -> dict[str, Any]:
    """Cases, and per version the rules fired, from the tables the live handler wrote."""
    async with app.state.container.runtime.session() as s:
        case_rows = (await s.execute(select(cases))).all()
        rows = (await s.execute(select(decisions).order_by(decisions.c.id))).all()
    fired = {(r.incident_ref, r.report_version): r.fired for r in rows}
    opened = {a["case_id"]: (r.incident_ref, r.report_version) for r in rows for a in r.detail if a["kind"] == "opened"}
    newest: dict[str, tuple[str, str]] = {}
    for r in rows:  # in decision order: the newest version's decision wins
        newest[r.incident_ref] = (r.urgency or "none", r.mode or "none")
    return {
        "cases": {c.case_id: {"urgency": c.urgency, "mode": c.mode} for c in case_rows},
        "fired": fired,
        "opened_by": opened,
        "newest": newest,
    }


async def test_retention_keeps_the_facts_without_names_and_the_what_if_still_decides_them(live: Any) -> None:
    c = live.state.container
    async with c.runtime.session() as s:
        kept = (
            await s.execute(select(incident_facts.c.id, incident_facts.c.people).where(incident_facts.c.id <= 300))
        ).all()
    await _set_people(live, {i: anonymized(people) for i, people in kept})  # as retention leaves them
    try:
        async with c.runtime.session() as s:
            since = whatif.months_before(TEST_NOW, 6)
            active, _, versions = await whatif.replays(s, c.config, "default", load_text(draft_text()), since, TEST_NOW)
        assert versions == N
        anonymous = [n for case in active.cases.values() for n in case.occurred if n.startswith(ANONYMOUS)]
        assert anonymous and all(
            len(case.occurred) == 1 for case in active.cases.values() if case.mode.value == "individual"
        )
    finally:
        await _set_people(live, dict(kept))  # put the names back for the other tests


async def _set_people(app: Any, people: dict[int, Any]) -> None:
    async with app.state.container.runtime.uow() as uow:
        for fact_id, value in people.items():
            q = update(incident_facts).where(incident_facts.c.id == fact_id).values(people=value)
            await uow.session.execute(q)
        await uow.commit()


async def test_what_if_is_for_coordinators_and_needs_a_valid_draft(live: Any) -> None:
    for scopes, status in (([], 401), (["analyst"], 403), (["supporter"], 403)):
        async with client(live, scopes) as c:
            r = await c.post("/v1/rulesets/default/draft:what-if")
        assert r.status_code == status, (scopes, r.text)
    async with client(live) as c:
        assert (await c.post("/v1/rulesets/NORTH/draft:what-if")).status_code == 404
        assert (await c.post("/v1/rulesets/default/draft:what-if", params={"months": 0})).status_code == 422
        assert (await c.post("/v1/rulesets/default/draft:what-if", params={"months": 37})).status_code == 422
        current = (await c.get("/v1/rulesets/default/draft")).json()
        broken = await c.put(
            "/v1/rulesets/default/draft", params={"revision": current["revision"]}, content="rules: [", headers=YAML
        )
        assert broken.status_code == 200 and not broken.json()["valid"]
        r = await c.post("/v1/rulesets/default/draft:what-if")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scope"


async def test_a_draft_that_decides_every_facility_alike_is_replayed_once_with_the_same_summary(live: Any) -> None:
    c = live.state.container
    since, doc = whatif.months_before(TEST_NOW, 6), load_text(draft_text())
    async with c.runtime.session() as s:
        once = await whatif.replays(s, c.config, "default", doc, since, TEST_NOW)
        both = await whatif.replays(s, c.config, "default", doc, since, TEST_NOW, skip_identical=False)
    assert once[1].cases is once[0].cases and both[1].cases is not both[0].cases  # the shortcut was taken
    assert once[1].versions_used == {"default:draft"} and once[0].versions_used != once[1].versions_used
    assert compare(*once) == compare(*both) and compare(*once).active.cases > 100


def test_only_a_draft_that_changes_no_facility_skips_the_second_replay() -> None:
    """A facility with its own rules keeps them under a default draft, but every facility without its own rules
    takes the draft: one facility unchanged is not enough (people's cases span facilities)."""
    default = load_text(draft_text()).to_domain("default:1")
    lower = load_text(draft_text(lower=True)).to_domain("default:draft")
    own = load_text(draft_text(drop="harm-severe")).to_domain("NORTH:1")
    relabelled = load_text(draft_text()).to_domain("default:draft")
    group, hours = GroupPolicy(staff_more_than=5, units_at_least=2), 72.0
    assert whatif._RuleSets({"GEN": (default, relabelled), "NORTH": (own, own)}, group, hours).identical()
    assert not whatif._RuleSets({"GEN": (default, lower), "NORTH": (own, own)}, group, hours).identical()
    wider = dataclasses.replace(relabelled, merge_window_hours=hours * 2)
    assert not whatif._RuleSets({"GEN": (default, wider)}, group, hours).identical()
    assert whatif._RuleSets({"GEN": (default, dataclasses.replace(relabelled, group=group))}, group, hours).identical()


def test_the_collector_is_paused_during_a_what_if_and_back_as_it_was_after() -> None:
    assert gc.isenabled()
    with whatif.gc_paused():
        assert not gc.isenabled()
        with whatif.gc_paused():  # overlapping what-ifs
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with whatif.gc_paused():
            pass
        assert not gc.isenabled()  # it was off: left off
    finally:
        gc.enable()
