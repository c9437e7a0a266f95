"""The coordinators' board: open cases with their current assignment and the page awaiting an answer (read only).

Three indexed reads for a page of open cases (cases by status, assignments by case, unanswered pages by
assignment), joined here; no names, no contact details: supporters appear by pseudonym.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_common.events.status import OutreachStatus
from psp_notification.adapters.orm import UNANSWERED_SQL, assignments, cases, pages


@dataclass(frozen=True)
class BoardRow:
    """One open case as the board shows it."""

    case: dict[str, Any]
    assignment: dict[str, Any] | None
    awaiting: dict[str, Any] | None  # the supporter page sent and not yet answered, if any


async def open_cases(session: AsyncSession, limit: int) -> list[BoardRow]:
    """Open (not closed, not purged) cases, oldest incident first, with their newest assignment and waiting page."""
    query = (
        select(cases)
        .where(cases.c.status != OutreachStatus.CLOSED.value, cases.c.purged_at.is_(None))
        .order_by(cases.c.occurred_at, cases.c.case_id)
        .limit(limit)
    )
    rows = [dict(r._mapping) for r in (await session.execute(query)).all()]
    ids = [r["case_id"] for r in rows]
    latest = await _latest_assignments(session, ids)
    waiting = await _awaiting(session, [a["assignment_id"] for a in latest.values()])
    out = []
    for r in rows:
        a = latest.get(r["case_id"])
        out.append(BoardRow(_aware(r), _aware(a) if a else None, waiting.get(a["assignment_id"]) if a else None))
    return out


async def _latest_assignments(session: AsyncSession, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not case_ids:
        return {}
    query = select(assignments).where(assignments.c.case_id.in_(case_ids)).order_by(assignments.c.matched_at)
    return {r.case_id: dict(r._mapping) for r in (await session.execute(query)).all()}  # newest wins


async def _awaiting(session: AsyncSession, assignment_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not assignment_ids:
        return {}
    query = (
        select(pages.c.assignment_id, pages.c.recipient_ref, pages.c.sent_at, pages.c.ack_deadline)
        .where(pages.c.assignment_id.in_(assignment_ids), text(UNANSWERED_SQL))
        .order_by(pages.c.sent_at)
    )
    return {r.assignment_id: _aware(dict(r._mapping)) for r in (await session.execute(query)).all()}


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    return {k: aware(v) if isinstance(v, datetime) else v for k, v in row.items()}
