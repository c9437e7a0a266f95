"""Set-based decisions on PostgreSQL: a consumed batch of incidents costs a constant number of statements (one per
table read, one for every table written), and deciding a batch at once leaves exactly the rows and outbox events that
deciding its incidents one after another leaves (same person twice in a batch, amendments, older versions,
groups, opt-outs, historical imports, key rotation)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from psp_common.events.intake import IncidentObserved
from psp_common.events.status import OutreachStatusChanged
from psp_common.events.vocab import StaffRef, Urgency
from psp_common.runtime import Runtime
from psp_rules import handlers, referrals
from psp_rules.adapters.orm import case_members, cases, decisions, incident_facts, outbox
from psp_rules.adapters.repository import ALL_SCOPE, OptOutRepository
from psp_rules.adapters.ruleset_schema import load_file
from psp_rules.settings import RulesSettings
from tests.rules.helpers import OCCURRED, observed, staff
from tests.rules.test_referrals import POLICIES, referral
from tests.statements import counting

pytestmark = [pytest.mark.postgres]

CFG = handlers.RulesConfig.from_settings(RulesSettings(), load_file())
HANDLED = OCCURRED + timedelta(hours=1)


async def at_once(rt: Runtime, events: Sequence[IncidentObserved]) -> None:
    async with rt.uow() as uow:
        await handlers.on_incidents(events, uow, CFG, HANDLED)
        await uow.commit()


async def one_by_one(rt: Runtime, events: Sequence[IncidentObserved]) -> None:
    for event in events:
        await at_once(rt, [event])


# Statements per batch


async def test_a_batch_of_thirty_incidents_costs_the_statements_of_three(rt: Runtime) -> None:
    people = [f"P{i}" for i in range(33)]
    await one_by_one(rt, [observed(ids=(p,), harm_level="moderate") for p in people])  # an open case each
    later = OCCURRED + timedelta(hours=2)

    def worse(i: int) -> IncidentObserved:  # merges person i into their open case, escalates it, opens one case
        return observed(ids=(people[i], f"NEW{i}"), harm_level="death", occurred_at=later)

    with counting(rt.engine) as three:
        await at_once(rt, [worse(i) for i in range(3)])
    batch = [worse(i) for i in range(3, 33)]
    with counting(rt.engine) as thirty:
        await at_once(rt, batch)
    assert thirty.seen == three.seen  # the same texts: prepared statements and plans are reused, whatever the size
    assert len(thirty) == len(three) == 8, three.kinds()  # lock, 5 reads, every table written, the outbox
    assert three.kinds()["WITH cases"] == 1  # cases, members, raised cases, decisions, facts: one statement
    assert not [k for k in three.kinds() if k.startswith(("INSERT", "UPDATE")) and k != "INSERT outbox"]
    async with rt.session() as s:
        merged = (await s.execute(select(case_members.c.how).where(case_members.c.how == "merged"))).all()
        raised = (await s.execute(select(cases.c.urgency).where(cases.c.urgency == "immediate"))).all()
        logged = (await s.execute(select(decisions.c.incident_ref).order_by(decisions.c.id))).scalars().all()
        facts = (await s.execute(select(incident_facts.c.incident_ref).order_by(incident_facts.c.id))).scalars()
    assert len(merged) == 33 and len(raised) == 66  # 33 escalated, 33 opened
    assert logged[-30:] == list(facts)[-30:] == [e.incident_ref for e in batch]  # ids in decision order


async def test_closing_a_batch_of_cases_is_one_statement(rt: Runtime) -> None:
    events = [observed(ids=(f"C{i}",)) for i in range(5)]
    await one_by_one(rt, events)
    async with rt.session() as s:
        ids = list((await s.execute(select(cases.c.case_id))).scalars())
    closed = [
        OutreachStatusChanged.model_validate(
            {"occurred_at": HANDLED, "correlation_id": e.correlation_id, "case_id": cid, "status": "closed"}
            | {"facility": "GEN", "unit": "ICU"}
        )
        for e, cid in zip(events, ids, strict=True)
    ]
    with counting(rt.engine) as seen:
        async with rt.uow() as uow:
            await handlers.on_statuses([*closed, closed[0]], uow)
            await uow.commit()
    assert len(seen) == 1
    async with rt.session() as s:
        assert set((await s.execute(select(cases.c.status))).scalars()) == {"closed"}


# Set-based == one at a time


def rotated(current: str, alias: str) -> tuple[StaffRef, ...]:
    """A person under a new key's pseudonym, still known under the old one (key rotation)."""
    [old] = staff(alias)
    return (StaffRef(pseudonym=f"ps_new_{current}_0000", key_id="k2", role="rn", aliases=(old.pseudonym,)),)


def history() -> list[IncidentObserved]:
    """Incidents whose decisions depend on each other: same people, same incidents, within the merge window."""
    h = OCCURRED
    return [
        observed("A", ids=("E1", "E2"), harm_level="moderate"),  # opens two cases
        observed("G", ids=("OLD",), harm_level="moderate"),  # a case stored under the old key's pseudonym
        observed("B", ids=("E1",), harm_level="death", occurred_at=h + timedelta(hours=2)),  # merge + escalate
        observed("A", 2, ids=("E1", "E2", "E3"), harm_level="severe", unit="ER"),  # amended: escalate, add E3
        observed("A", 1, ids=("E1", "E2"), harm_level="death"),  # an older version: no change
        observed("B", 1, ids=("E1",), harm_level="death", triaged=True),  # dispatched again: decided again
        observed("C", ids=tuple(f"T{i}" for i in range(6)), harm_level="severe"),  # a group case
        observed("C", 2, ids=tuple(f"T{i}" for i in range(7)), harm_level="death"),  # the group grows
        observed("D", ids=("OPTED", "E2"), harm_level="death"),  # one suppressed
        observed("E", ids=("E1",), harm_level="severe", occurred_at=h + timedelta(hours=200)),  # out of window
        observed("F", ids=("E2",), harm_level="death", historical=True),  # decided, not paged
        observed("H", staff=rotated("OLD", "OLD"), harm_level="death", occurred_at=h + timedelta(hours=1)),
        observed("I", ids=("E2",), harm_level="severe", occurred_at=h - timedelta(hours=3)),  # before, in window
        observed("J", ids=("E9",), harm_level="no_harm"),  # no rule fires
    ]


async def snapshot(rt: Runtime) -> dict[str, Any]:
    """Every row the decisions left (ids left out; order kept where it is the decision order)."""

    def rows(result: Any, drop: tuple[str, ...] = ("id",)) -> list[dict[str, Any]]:
        return [{k: v for k, v in r._mapping.items() if k not in drop} for r in result.all()]

    async with rt.session() as s:
        out: dict[str, Any] = {
            "cases": sorted(map(repr, rows(await s.execute(select(cases))))),
            "members": sorted(map(repr, rows(await s.execute(select(case_members))))),
            "decisions": rows(await s.execute(select(decisions).order_by(decisions.c.id))),
            "facts": rows(await s.execute(select(incident_facts).order_by(incident_facts.c.id))),
            "outbox": [],
        }
        for topic, key, payload in (
            await s.execute(select(outbox.c.topic, outbox.c.key, outbox.c.payload).order_by(outbox.c.id))
        ).all():
            body = json.loads(payload)
            body.pop("event_id"), body.pop("produced_at")  # fresh per event
            body.get("people", []).sort(key=lambda p: p["pseudonym"])  # joined at the same instant: any order
            out["outbox"].append((topic, key, body))
    for d in out["decisions"]:
        for action in d["detail"]:
            action["people"].sort()
    return out


async def opt_out(rt: Runtime, name: str) -> None:
    async with rt.uow() as uow:
        await OptOutRepository(uow.session).add(staff(name)[0].pseudonym, ALL_SCOPE, OCCURRED)
        await uow.commit()


@pytest.mark.parametrize("before", [0, 2, 5])
async def test_a_batch_decides_as_its_incidents_one_after_another(rt: Runtime, rt2: Runtime, before: int) -> None:
    events = history()
    for db in (rt, rt2):
        await opt_out(db, "OPTED")
        await one_by_one(db, events[:before])  # what the database held before the batch
    await at_once(rt, events[before:])
    await one_by_one(rt2, events[before:])
    batch, sequential = await snapshot(rt), await snapshot(rt2)
    for key in batch:
        assert batch[key] == sequential[key], key
    outcomes = [d["outcome"] for d in batch["decisions"]]
    assert "merged; escalated" in outcomes and "no change: version already decided" in outcomes
    assert any(o.startswith("not paged") for o in outcomes) and "group case updated" in outcomes
    assert any("suppressed" in o for o in outcomes) and "no rule fired" in outcomes
    assert len(batch["facts"]) == len(events) - 2  # the older version and the re-dispatch add no facts


async def test_a_version_repeated_in_a_batch_is_decided_once_then_no_change(rt: Runtime, rt2: Runtime) -> None:
    first = observed("K", ids=("D1",), harm_level="severe")
    events = [first, observed("K", ids=("D1",), harm_level="death"), first]
    await at_once(rt, events)
    await one_by_one(rt2, events)
    batch = await snapshot(rt)
    assert batch == await snapshot(rt2)
    assert [d["outcome"] for d in batch["decisions"]] == ["outreach requested"] + 2 * [
        "no change: version already decided"
    ]
    assert len(batch["outbox"]) == 1 and len(batch["facts"]) == 1


async def test_referrals_in_a_batch_decide_as_one_after_another(rt: Runtime, rt2: Runtime) -> None:
    later = OCCURRED + timedelta(hours=1)
    events = [
        referral("colleague", Urgency.WITHIN_DAYS),  # reach out to E-200
        referral("self", Urgency.IMMEDIATE, occurred_at=later),  # E-200 again: merged, escalated
        referral("manager", Urgency.WITHIN_HOURS, facility="NORTH"),  # support the referrer
    ]
    before = observed(ids=("E-300",), harm_level="moderate")  # the referrer has an open case
    for db in (rt, rt2):
        await one_by_one(db, [before])
    async with rt.uow() as uow:
        await referrals.on_referrals(events, uow, CFG, POLICIES, HANDLED)
        await uow.commit()
    for event in events:
        async with rt2.uow() as uow:
            await referrals.on_referrals([event], uow, CFG, POLICIES, HANDLED)
            await uow.commit()
    batch, sequential = await snapshot(rt), await snapshot(rt2)
    for key in batch:
        assert batch[key] == sequential[key], key
    assert [d["outcome"] for d in batch["decisions"]][1:] == [
        "outreach requested",
        "merged; escalated",
        "merged; escalated",
    ]
