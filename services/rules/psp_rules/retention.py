"""Rules' retention purge (run by ``psp_common.retention.Retention``).

Purged: the members of a case closed at or before the cutoff (who was involved), and the pseudonyms in the
decision log once no unpurged case refers to the decision's incident (decisions that opened no case are
purged the same time after they were made). Kept: case rows (facility, unit, mode, urgency, tier, times)
and decision rows (rules fired, urgency, outcome), so ``/v1/stats`` still counts them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, union, update

from psp_common.db import UnitOfWork
from psp_rules.adapters.orm import case_members, cases, decisions

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
    await uow.commit()
    return case_ids + [f"decision:{r[0]}" for r in rows]


def _strip(detail: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decision's actions without the people they named."""
    return [{**action, "people": []} for action in detail or []]
