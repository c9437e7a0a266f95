"""The coordinators' board: open cases with their current assignment and the page awaiting an answer (read only).

Three indexed reads for a page of open cases (cases by status, assignments by case, unanswered pages by
assignment), joined here; no names, no contact details: supporters appear by pseudonym.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_common.events.status import OutreachStatus
from psp_notification.adapters.orm import UNANSWERED_SQL, assignments, cases, pages


@dataclass(frozen=True)
class OpenCase:
    """The columns of an open case the board shows."""

    case_id: str
    facility: str
    unit: str
    urgency: str | None
    mode: str | None
    status: str
    occurred_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class CurrentAssignment:
    """The newest assignment of a case: who holds it and its clocks."""

    assignment_id: str
    case_id: str
    state: str
    candidates: list[str]  # pseudonyms, the primary first
    acknowledged_by: str | None
    matched_at: datetime
    acknowledged_at: datetime | None
    contact_deadline: datetime
    contacted_at: datetime | None
    overdue_escalated: bool

    @property
    def primary_ref(self) -> str | None:
        """The matched primary supporter's pseudonym."""
        return self.candidates[0] if self.candidates else None


@dataclass(frozen=True)
class AwaitingPage:
    """The supporter page of an assignment sent and not yet answered."""

    assignment_id: str
    recipient_ref: str
    sent_at: datetime | None
    ack_deadline: datetime | None


@dataclass(frozen=True)
class BoardRow:
    """One open case as the board shows it."""

    case: OpenCase
    assignment: CurrentAssignment | None
    awaiting: AwaitingPage | None  # the supporter page sent and not yet answered, if any


def _columns(table: Table, row_type: type) -> Any:
    return select(*(table.c[f.name] for f in fields(row_type)))


def _values(row: Row[Any]) -> list[Any]:
    """A row's values in its select's order, datetimes timezone-aware (SQLite returns naive UTC)."""
    return [aware(v) if isinstance(v, datetime) else v for v in row]


async def open_cases(session: AsyncSession, limit: int) -> list[BoardRow]:
    """Open (not closed, not purged) cases, oldest incident first, with their newest assignment and waiting page."""
    query = (
        _columns(cases, OpenCase)
        .where(cases.c.status != OutreachStatus.CLOSED.value, cases.c.purged_at.is_(None))
        .order_by(cases.c.occurred_at, cases.c.case_id)
        .limit(limit)
    )
    rows = [OpenCase(*_values(r)) for r in (await session.execute(query)).all()]
    latest = await _latest_assignments(session, [r.case_id for r in rows])
    waiting = await _awaiting(session, [a.assignment_id for a in latest.values()])
    out = []
    for r in rows:
        a = latest.get(r.case_id)
        out.append(BoardRow(r, a, waiting.get(a.assignment_id) if a else None))
    return out


async def _latest_assignments(session: AsyncSession, case_ids: Sequence[str]) -> dict[str, CurrentAssignment]:
    if not case_ids:
        return {}
    query = _columns(assignments, CurrentAssignment).where(assignments.c.case_id.in_(case_ids))
    found = [CurrentAssignment(*_values(r)) for r in (await session.execute(query.order_by(assignments.c.matched_at)))]
    return {a.case_id: a for a in found}  # newest wins


async def _awaiting(session: AsyncSession, assignment_ids: Sequence[str]) -> dict[str, AwaitingPage]:
    if not assignment_ids:
        return {}
    query = (
        _columns(pages, AwaitingPage)
        .where(pages.c.assignment_id.in_(assignment_ids), text(UNANSWERED_SQL))
        .order_by(pages.c.sent_at)
    )
    found = [AwaitingPage(*_values(r)) for r in (await session.execute(query)).all()]
    return {p.assignment_id: p for p in found}
