"""Cases and assignments storage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, get_by, insert_or_skip, update_by
from psp_common.deferred import defer_insert, deferred_rows, flush_deferred
from psp_matching.adapters.orm import assignments, cases, members, supported
from psp_matching.adapters.workload import note_team

ACTIVE = "active"
SUPERSEDED = "superseded"
BACKUP = "backup"  # team role of a backup who acknowledged the page
# A new case and its assignment are queued (``defer_insert``) and written in one insert per table when the
# transaction commits, so a batch of new cases costs four inserts, not four per case. Reads in the same
# transaction see them: ``get`` and the writes to an existing case flush first when the case is queued;
# ``supporting`` adds the queued rows to what it reads.
QUEUED_CASES = "psp.matching.queued_cases"


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

    def _queue(self, table: Table, row: dict[str, Any], case_id: str) -> None:
        defer_insert(self.session, table, row)
        self.session.info.setdefault(QUEUED_CASES, set()).add(case_id)

    async def _flush_if_queued(self, case_id: str) -> None:
        if case_id in self.session.info.get(QUEUED_CASES, ()):
            await flush_deferred(self.session)
            self.session.info.pop(QUEUED_CASES, None)

    async def get(self, case_id: str, lock: bool = False) -> dict[str, Any] | None:
        """One case (locked for update while a handler decides on it)."""
        await self._flush_if_queued(case_id)
        row = await get_by(self.session, cases, "case_id", case_id, lock=lock)
        return _row(row) if row else None

    async def save(self, values: dict[str, Any], exists: bool) -> None:
        """Insert or update a case."""
        if exists:
            await self._flush_if_queued(values["case_id"])
            await update_by(self.session, cases, "case_id", values["case_id"], values)
        else:
            self._queue(cases, values, values["case_id"])

    async def team_on_case(self, case_id: str) -> frozenset[str]:
        """Supporters on the case's active assignment."""
        await self._flush_if_queued(case_id)
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
        since = since.astimezone(UTC)
        params = {"people": sorted(people), "since": since}
        found = {r[0] for r in await self.session.execute(SUPPORTING, params)}
        queued = {  # assignments queued in this transaction (active: superseding one flushes it first)
            r["assignment_id"]
            for r in deferred_rows(self.session, supported)
            if r["person_ref"] in people and r["created_at"] >= since
        }
        found |= {m["supporter_ref"] for m in deferred_rows(self.session, members) if m["assignment_id"] in queued}
        return frozenset(found)

    async def close(self, case_id: str, now: datetime) -> bool:
        """Record that the outreach closed (starts the retention clock); False when unknown or already closed."""
        await self._flush_if_queued(case_id)
        result = await self.session.execute(
            update(cases).where(cases.c.case_id == case_id, cases.c.closed_at.is_(None)).values(closed_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def supersede(self, case_id: str) -> None:
        """Mark the case's active assignments superseded."""
        await self._flush_if_queued(case_id)
        await self.session.execute(
            update(assignments)
            .where(assignments.c.case_id == case_id, assignments.c.status == ACTIVE)
            .values(status=SUPERSEDED)
        )

    async def add_assignment(self, values: dict[str, Any], roles: list[tuple[str, str]]) -> None:
        """Store an assignment and its team members (primary, co-facilitators)."""
        aid, at, case_id = values["assignment_id"], values["created_at"], values["case_id"]
        note_team(self.session, [ref for ref, _ in roles], case_id, at)
        self._queue(assignments, values, case_id)
        for p in sorted(set(values["supported"])):
            self._queue(supported, {"assignment_id": aid, "person_ref": p, "created_at": at}, case_id)
        for ref, role in roles:
            row = {"assignment_id": aid, "supporter_ref": ref, "case_id": case_id, "role": role, "created_at": at}
            self._queue(members, row, case_id)

    async def add_acknowledging_backup(
        self, assignment_id: str, case_id: str, supporter_ref: str, at: datetime
    ) -> bool:
        """A backup who acknowledged joins the assignment's team: the monthly cap and fairness count them.

        False when the assignment is not this case's or they were on its team already (the primary).
        """
        await self._flush_if_queued(case_id)
        query = select(assignments.c.case_id).where(assignments.c.assignment_id == assignment_id)
        if (await self.session.execute(query)).scalar_one_or_none() != case_id:
            return False
        row = {
            "assignment_id": assignment_id,
            "supporter_ref": supporter_ref,
            "case_id": case_id,
            "role": BACKUP,
            "created_at": at,
        }
        added = await insert_or_skip(self.session, members, row)
        if added:
            note_team(self.session, [supporter_ref], case_id, at)
        return added

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
