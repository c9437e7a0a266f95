"""Rules' retention purge (run by ``psp_common.retention.Retention``).

Purged: the members of a case closed at or before the cutoff (who was involved), and the pseudonyms in the
decision log once no unpurged case refers to the decision's incident (decisions that opened no case are
purged the same time after they were made), and on the same condition the pseudonyms in the incident facts the
what-if replays. Kept: case rows (facility, unit, mode, urgency, tier, times), decision rows (rules fired,
urgency, outcome), so ``/v1/stats`` still counts them, and the facts without names (roles, flags, harm, ...), so
a what-if still decides those versions, without linking their people to any other incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, union, update

from psp_common.db import UnitOfWork
from psp_rules.adapters.facts import anonymized
from psp_rules.adapters.orm import case_members, cases, decisions, incident_facts

CLOSED = "closed"


async def purge_closed(uow: UnitOfWork, now: datetime, cutoff: datetime, batch: int) -> list[str]:
    """Purge up to ``batch`` closed cases and ``batch`` settled decisions; commit; return what was purged."""
    s = uow.session
    due = (
        select(cases.c.case_id)
        .where(cases.c.status == CLOSED, cases.c.updated_at <= cutoff, cases.c.purged_at.is_(None))
        .order_by(cases.c.updated_at)
        .limit(batch)
    )
    case_ids = list((await s.execute(due)).scalars())
    if case_ids:
        await s.execute(delete(case_members).where(case_members.c.case_id.in_(case_ids)))
        await s.execute(update(cases).where(cases.c.case_id.in_(case_ids)).values(purged_at=now))
    live = cases.c.purged_at.is_(None)
    referenced = union(
        select(cases.c.incident_ref).where(live),
        select(case_members.c.incident_ref).join(cases, cases.c.case_id == case_members.c.case_id).where(live),
    )
    settled = (
        select(decisions.c.id, decisions.c.detail)
        .where(
            decisions.c.decided_at <= cutoff,
            decisions.c.purged_at.is_(None),
            decisions.c.incident_ref.not_in(referenced),
        )
        .order_by(decisions.c.decided_at)
        .limit(batch)
    )
    rows = (await s.execute(settled)).all()
    for decision_id, detail in rows:
        await s.execute(
            update(decisions).where(decisions.c.id == decision_id).values(detail=_strip(detail), purged_at=now)
        )
    facts = await _purge_facts(uow, now, cutoff, batch, referenced)
    await uow.commit()
    return case_ids + [f"decision:{r[0]}" for r in rows] + [f"facts:{i}" for i in facts]


async def _purge_facts(uow: UnitOfWork, now: datetime, cutoff: datetime, batch: int, referenced: Any) -> list[int]:
    """Remove the names of up to ``batch`` incident versions recorded at or before ``cutoff`` that no unpurged
    case refers to."""
    due = (
        select(incident_facts.c.id, incident_facts.c.people)
        .where(
            incident_facts.c.recorded_at <= cutoff,
            incident_facts.c.purged_at.is_(None),
            incident_facts.c.incident_ref.not_in(referenced),
        )
        .order_by(incident_facts.c.recorded_at)
        .limit(batch)
    )
    rows = (await uow.session.execute(due)).all()
    for fact_id, people in rows:
        q = update(incident_facts).where(incident_facts.c.id == fact_id)
        await uow.session.execute(q.values(people=anonymized(people), purged_at=now))
    ids = [r[0] for r in rows]
    return ids


def _strip(detail: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decision's actions without the people they named."""
    return [{**action, "people": []} for action in detail or []]
