"""Cases and assignments storage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, get_by, update_by
from psp_matching.adapters.orm import assignments, cases, members, supported
from psp_matching.adapters.roster import count_new_assignment

ACTIVE = "active"
SUPERSEDED = "superseded"


def _row(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for key in ("created_at", "updated_at", "closed_at", "purged_at"):
        if key in out:
            out[key] = aware(out[key])
    return out


# Built once: constructing a statement per call costs about as much as running it.
SUPPORTING = (
    select(members.c.supporter_ref)
    .distinct()
    .join(assignments, assignments.c.assignment_id == supported.c.assignment_id)
    .join(members, members.c.assignment_id == supported.c.assignment_id)
    .where(
        supported.c.person_ref.in_(bindparam("people", expanding=True)),
        supported.c.created_at >= bindparam("since"),
        assignments.c.status == ACTIVE,
    )
)


class CaseRepository:
    """Outreach cases as matching saw them, and the assignments made for them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, case_id: str, lock: bool = False) -> dict[str, Any] | None:
        """One case (locked for update while a handler decides on it)."""
        row = await get_by(self.session, cases, "case_id", case_id, lock=lock)
        return _row(row) if row else None

    async def save(self, values: dict[str, Any], exists: bool) -> None:
        """Insert or update a case."""
        if exists:
            await update_by(self.session, cases, "case_id", values["case_id"], values)
        else:
            await self.session.execute(insert(cases), values)

    async def team_on_case(self, case_id: str) -> frozenset[str]:
        """Supporters on the case's active assignment."""
        query = (
            select(members.c.supporter_ref)
            .join(assignments, assignments.c.assignment_id == members.c.assignment_id)
            .where(assignments.c.case_id == case_id, assignments.c.status == ACTIVE)
        )
        return frozenset(r[0] for r in await self.session.execute(query))

    async def supporting(self, people: frozenset[str], since: datetime) -> frozenset[str]:
        """Supporters with an active assignment since ``since`` for any of these people."""
        if not people:
            return frozenset()
        params = {"people": sorted(people), "since": since.astimezone(UTC)}
        return frozenset(r[0] for r in await self.session.execute(SUPPORTING, params))

    async def close(self, case_id: str, now: datetime) -> bool:
        """Record that the outreach closed (starts the retention clock); False when unknown or already closed."""
        result = await self.session.execute(
            update(cases).where(cases.c.case_id == case_id, cases.c.closed_at.is_(None)).values(closed_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def supersede(self, case_id: str) -> None:
        """Mark the case's active assignments superseded."""
        await self.session.execute(
            update(assignments)
            .where(assignments.c.case_id == case_id, assignments.c.status == ACTIVE)
            .values(status=SUPERSEDED)
        )

    async def add_assignment(
        self, values: dict[str, Any], roles: list[tuple[str, str]], new_case: bool = False
    ) -> None:
        """Store an assignment and its team members (primary, co-facilitators)."""
        count_new_assignment(self.session, [ref for ref, _ in roles], new_case)
        await self.session.execute(insert(assignments), values)
        people = sorted(set(values["supported"]))
        if people:
            await self.session.execute(
                insert(supported),
                [
                    {"assignment_id": values["assignment_id"], "person_ref": p, "created_at": values["created_at"]}
                    for p in people
                ],
            )
        await self.session.execute(
            insert(members),
            [
                {
                    "assignment_id": values["assignment_id"],
                    "supporter_ref": ref,
                    "case_id": values["case_id"],
                    "role": role,
                    "created_at": values["created_at"],
                }
                for ref, role in roles
            ],
        )

    async def assignments(
        self, limit: int, case_id: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Assignments, newest first."""
        query = select(assignments).order_by(assignments.c.created_at.desc()).limit(limit)
        if case_id is not None:
            query = query.where(assignments.c.case_id == case_id)
        if status is not None:
            query = query.where(assignments.c.status == status)
        return [_row(r) for r in await self.session.execute(query)]

    async def member_assignments(self, supporter_ref: str, limit: int) -> list[dict[str, Any]]:
        """Assignments whose team includes ``supporter_ref``, newest first."""
        query = (
            select(assignments)
            .join(members, members.c.assignment_id == assignments.c.assignment_id)
            .where(members.c.supporter_ref == supporter_ref)
            .order_by(assignments.c.created_at.desc())
            .limit(limit)
        )
        return [_row(r) for r in await self.session.execute(query)]

    async def is_member(self, case_id: str, supporter_ref: str) -> bool:
        """Whether ``supporter_ref`` is on the team of any assignment of the case."""
        query = (
            select(members.c.assignment_id)
            .where(members.c.case_id == case_id, members.c.supporter_ref == supporter_ref)
            .limit(1)
        )
        return (await self.session.execute(query)).first() is not None
