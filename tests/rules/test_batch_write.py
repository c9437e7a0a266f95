"""A batch's writes: PostgreSQL's one statement stores exactly what one executemany per table stores (values, JSON
text, SQL NULLs, ids in decision order), and costs one statement whatever the number of rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from psp_common.runtime import Runtime
from psp_rules.adapters.batch_write import BatchWrite
from tests.rules.helpers import OCCURRED
from tests.statements import counting

pytestmark = [pytest.mark.postgres]

HANDLED = OCCURRED + timedelta(hours=1)


def case(i: int) -> dict[str, Any]:
    return {
        "case_id": f"case-{i}", "incident_ref": f"ref-{i}", "facility": "GEN", "unit": "ICU", "mode": "individual",
        "urgency": "within_days", "tier": 1, "opened_at": HANDLED, "updated_at": HANDLED, "occurred_at": OCCURRED,
    }  # fmt: skip


def member(i: int, aliases: list[str] | None, role: str | None = "rn") -> dict[str, Any]:
    return {
        "case_id": f"case-{i}", "pseudonym": f"ps_{i:08d}", "incident_ref": f"ref-{i}", "key_id": "k1",
        "role": role, "involvement": "primary", "aliases": aliases, "how": "opened", "joined_at": HANDLED,
        "occurred_at": OCCURRED,
    }  # fmt: skip


def decision(i: int, fired: list[str]) -> dict[str, Any]:
    return {
        "incident_ref": f"ref-{i}", "report_version": 1, "event_id": f"ev-{i}", "facility": "GEN", "unit": "ICU",
        "ruleset_version": "default:1", "fired": fired, "urgency": "immediate" if fired else None,
        "tier": 2 if fired else None, "mode": "individual" if fired else None, "outcome": "outreach requested é",
        "detail": [{"kind": "opened", "case_id": None, "people": [f"ps_{i:08d}"], "note": "ü"}],
        "decided_at": HANDLED,
    }  # fmt: skip


def fact(i: int) -> dict[str, Any]:
    return {
        "incident_ref": f"ref-{i}", "report_version": 1, "facility": "GEN", "unit": "ICU", "source_kind": "native",
        "event_class": "incident", "category": None, "harm_level": "death", "patient_age_group": None,
        "huddle_call": None, "cis_flags": "code_blue", "team_size": None,
        "people": [[f"ps_{i:08d}", "k1", None, "primary", ["ps_old"]]], "occurred_at": OCCURRED,
        "recorded_at": HANDLED,
    }  # fmt: skip


def batch(first: int, n: int) -> BatchWrite:
    ids = range(first, first + n)
    raised = [{"case_id": "case-0", "urgency": "immediate", "tier": 3, "updated_at": HANDLED + timedelta(1)}]
    return BatchWrite(
        cases=[case(i) for i in ids],
        members=[member(i, ["ps_old"] if i % 2 else None, None if i % 3 else "rn") for i in ids],
        raised=raised,
        decisions=[decision(i, [f"r{i}"] if i % 2 else []) for i in ids],
        facts=[fact(i) for i in ids],
    )


async def stored(rt: Runtime) -> dict[str, list[str]]:
    """Every row of the written tables as PostgreSQL's text of it (JSON as stored, NULL apart from JSON null)."""
    queries = {
        "cases": "SELECT t::text FROM cases t ORDER BY case_id",
        "members": "SELECT t::text, aliases IS NULL FROM case_members t ORDER BY case_id, pseudonym",
        "decisions": "SELECT t::text FROM decisions t ORDER BY id",
        "facts": "SELECT t::text FROM incident_facts t ORDER BY id",
    }
    async with rt.session() as s:
        return {k: [repr(tuple(r)) for r in (await s.execute(text(q))).all()] for k, q in queries.items()}


async def test_one_statement_stores_what_a_statement_per_table_stores(rt: Runtime, rt2: Runtime) -> None:
    for db, how in ((rt, BatchWrite.write_at_once), (rt2, BatchWrite.write_each)):
        async with db.session() as s:
            await BatchWrite(cases=[case(0)]).write_each(s)
            await how(batch(1, 7), s)
            await s.commit()
    at_once, each = await stored(rt), await stored(rt2)
    assert at_once == each
    assert len(at_once["decisions"]) == 7 and "immediate" in at_once["cases"][0]  # case-0 raised


@pytest.mark.parametrize("n", [3, 30])
async def test_writing_a_batch_is_one_statement_whatever_its_size(rt: Runtime, n: int) -> None:
    async with rt.session() as s:
        await BatchWrite(cases=[case(0)]).write(s)
        with counting(rt.engine) as seen:
            await batch(1, n).write(s)
        await s.commit()
    assert len(seen) == 1 and seen.kinds()["WITH cases"] == 1
    assert len((await stored(rt))["facts"]) == n
