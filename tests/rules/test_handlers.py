"""Handlers on a real SQLite unit of work: cases, merges, opt-outs, amendments, decisions and the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_rules import handlers
from psp_rules.adapters.orm import case_members, cases, decisions, metadata, outbox, rulesets
from psp_rules.adapters.repository import OptOutRepository
from psp_rules.adapters.ruleset_schema import load_file
from psp_rules.bootstrap import MIGRATIONS
from psp_rules.settings import RulesSettings
from tests.rules.helpers import OCCURRED, observed, staff


@pytest.fixture
async def rt(sqlite_url: str) -> AsyncIterator[Runtime]:
    settings = RulesSettings(database_url=sqlite_url)
    await upgrade_async(MIGRATIONS, sqlite_url)
    runtime = Runtime(settings, metadata, MIGRATIONS)
    yield runtime
    await runtime.engine.dispose()


CFG = handlers.RulesConfig.from_settings(RulesSettings(), load_file())


HANDLED = OCCURRED + timedelta(minutes=5)  # when the consumer handles an event, unless a test says otherwise


async def handle(rt: Runtime, event: Any, cfg: handlers.RulesConfig = CFG, now: datetime = HANDLED) -> handlers.Plan:
    async with rt.uow() as uow:
        (p,) = await handlers.on_incidents([event], uow, cfg, now)
        await uow.commit()
    return p


async def published(rt: Runtime) -> list[OutreachRequested]:
    async with rt.session() as s:
        rows = (await s.execute(select(outbox).order_by(outbox.c.id))).all()
    return [OutreachRequested.model_validate_json(r.payload) for r in rows]


async def count(rt: Runtime, table: Any) -> int:
    async with rt.session() as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


async def outcomes(rt: Runtime) -> list[str]:
    async with rt.session() as s:
        return list((await s.execute(select(decisions.c.outcome).order_by(decisions.c.id))).scalars())


async def test_harm_death_publishes_one_case_per_person_and_seeds_default(rt: Runtime) -> None:
    ev = observed(ids=("E1", "E2"))
    await handle(rt, ev)
    out = await published(rt)
    assert len(out) == 2 and len({o.case_id for o in out}) == 2
    assert {o.people[0].pseudonym for o in out} == {s.pseudonym for s in ev.staff}
    assert all(o.urgency == "immediate" and o.mode == "individual" and o.ruleset_version == "default:1" for o in out)
    assert out[0].rules_fired[0].rule_id == "harm-death" and "harm_level=death" in out[0].rules_fired[0].text
    assert await count(rt, rulesets) == 1 and await count(rt, cases) == 2
    async with rt.session() as s:
        key = (await s.execute(select(outbox.c.key))).scalars().first()
    assert key == str(out[0].case_id)


async def test_group_rule_makes_one_group_case(rt: Runtime) -> None:
    await handle(rt, observed(ids=tuple(f"E{i}" for i in range(6)), harm_level="severe"))
    out = await published(rt)
    assert len(out) == 1 and out[0].mode == "group" and len(out[0].people) == 6
    assert {h.rule_id for h in out[0].rules_fired} == {"harm-severe", "group-intervention"}
    await handle(rt, observed(out[0].incident_ref, 2, ids=tuple(f"E{i}" for i in range(7)), harm_level="severe"))
    out = await published(rt)
    assert len(out) == 2 and out[1].case_id == out[0].case_id and len(out[1].people) == 7
    assert out[1].change == "updated"


async def test_no_rule_fired_is_recorded(rt: Runtime) -> None:
    await handle(rt, observed(harm_level="no_harm", event_class="near_miss"))
    assert await published(rt) == [] and await outcomes(rt) == ["no rule fired"]


async def test_opted_out_person_is_suppressed_and_recorded(rt: Runtime) -> None:
    pseudo = staff("E1")[0].pseudonym
    async with rt.uow() as uow:
        await OptOutRepository(uow.session).add(pseudo, "all", OCCURRED)
        await uow.commit()
    await handle(rt, observed(ids=("E1",)))
    assert await published(rt) == []
    assert await outcomes(rt) == ["suppressed: opted out"]


async def test_facility_opt_out_applies_only_there(rt: Runtime) -> None:
    async with rt.uow() as uow:
        await OptOutRepository(uow.session).add(staff("E1")[0].pseudonym, "OTHER", OCCURRED)
        await uow.commit()
    await handle(rt, observed(ids=("E1",)))
    assert len(await published(rt)) == 1


async def test_second_incident_within_window_merges_and_is_recorded(rt: Runtime) -> None:
    await handle(rt, observed(ids=("E1",)))
    await handle(rt, observed(ids=("E1",), harm_level="severe"))
    assert len(await published(rt)) == 1
    assert await outcomes(rt) == ["outreach requested", "merged"]
    async with rt.session() as s:
        hows = list((await s.execute(select(case_members.c.how).order_by(case_members.c.joined_at))).scalars())
    assert hows == ["opened", "merged"]


async def test_after_the_window_a_new_case_opens(rt: Runtime) -> None:
    await handle(rt, observed(ids=("E1",)))
    later = observed(ids=("E1",), harm_level="severe", occurred_at=OCCURRED + timedelta(hours=200))
    p = await handle(rt, later)  # handled right after the first: the incidents' times decide
    assert p.decision.outcome == "outreach requested"
    assert len(await published(rt)) == 2


async def test_closed_case_is_not_merged_into(rt: Runtime) -> None:
    await handle(rt, observed(ids=("E1",)))
    case_id = (await published(rt))[0].case_id
    closed = OutreachStatusChanged(
        occurred_at=OCCURRED,
        correlation_id=case_id,
        case_id=case_id,
        status=OutreachStatus.CLOSED,
        facility="GEN",
        unit="ICU",
    )
    async with rt.uow() as uow:
        await handlers.on_statuses([closed], uow)
        await uow.commit()
    await handle(rt, observed(ids=("E1",), harm_level="severe"))
    assert len(await published(rt)) == 2


async def test_amendment_upward_escalates_same_case_and_adds_new_people(rt: Runtime) -> None:
    ref = "ref_amend"
    await handle(rt, observed(ref, 1, ids=("E1",), harm_level="moderate"))
    await handle(rt, observed(ref, 2, ids=("E1",), harm_level="moderate"))  # same: nothing new
    await handle(rt, observed(ref, 3, ids=("E1", "E2"), harm_level="death"))
    await handle(rt, observed(ref, 2, ids=("E1",), harm_level="death"))  # late older version: nothing
    out = await published(rt)
    assert [o.urgency for o in out] == ["within_days", "immediate", "immediate"]
    assert sorted(o.change for o in out) == ["escalated", "opened", "opened"]
    assert out[0].case_id in {o.case_id for o in out[1:]}
    assert len({o.case_id for o in out}) == 2
    assert await outcomes(rt) == [
        "outreach requested",
        "no change: already covered",
        "outreach requested; escalated",
        "no change: version already decided",
    ]


async def test_facility_override_extending_default(rt: Runtime) -> None:
    from psp_rules.adapters.repository import RuleSetRepository

    doc = {
        "name": "gen",
        "extends_default": True,
        "disable": ["harm-death"],
        "rules": [
            {
                "id": "gen-falls",
                "text": "Any fall",
                "when": {"categories_any": ["fall"]},
                "urgency": "within_days",
                "tier": 1,
            }
        ],
    }
    async with rt.uow() as uow:
        await RuleSetRepository(uow.session).add("GEN", doc, "test", OCCURRED)
        await uow.commit()
    p = await handle(rt, observed(ids=("E1",)))
    assert p.decision.outcome == "no rule fired"
    p = await handle(rt, observed(ids=("E2",), harm_level="no_harm", category="fall"))
    out = await published(rt)
    assert len(out) == 1 and out[0].ruleset_version == "GEN:1+default:1"
    assert out[0].rules_fired[0].rule_id == "gen-falls"
    p = await handle(rt, observed(ids=("E3",), facility="OTHER"))
    assert p.decision.outcome == "outreach requested"


async def test_units_from_earlier_versions_count_for_the_group_rule(rt: Runtime) -> None:
    ref = "ref_units"
    await handle(rt, observed(ref, 1, ids=("E1", "E2"), harm_level="no_harm", event_class="near_miss"))
    p = await handle(rt, observed(ref, 2, ids=("E1", "E2"), harm_level="severe", unit="ED"))
    assert p.decision.mode.value == "group"
    out = await published(rt)
    assert len(out) == 1 and out[0].mode == "group" and len(out[0].people) == 2


async def test_a_batch_reads_the_rule_set_versions_once_and_a_new_version_is_seen(rt: Runtime) -> None:
    from sqlalchemy import event as sa_event

    from psp_rules.adapters.repository import RuleSetRepository

    await handle(rt, observed(ids=("E0",)))  # seeds the default rule set
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = rt.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        async with rt.uow() as uow:  # one consumed batch = one unit of work
            await handlers.on_incidents([observed(ids=("E1", "E2")), observed(ids=("E3",))], uow, CFG, HANDLED)
            newest = [q for q in statements if q.startswith("SELECT rulesets.scope, max(rulesets.version)")]
            assert len(newest) == 1
            # Opening a case publishes the people just added without reading them back.
            member_rows = "SELECT case_members.case_id, case_members.pseudonym, case_members.incident_ref, "
            assert not [q for q in statements if q.startswith(member_rows + "case_members.key_id")]
            repo = RuleSetRepository(uow.session)
            await repo.add("default", CFG.default_doc.model_dump(mode="json"), "test", OCCURRED)
            assert await repo.newest(("default",)) == {"default": 2}
            await uow.commit()
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
    out = await published(rt)
    assert [sorted(p.pseudonym for p in o.people) for o in out[-3:]] == [[s.pseudonym] for s in staff("E1", "E2", "E3")]
