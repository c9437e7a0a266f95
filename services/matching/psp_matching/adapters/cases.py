"""Cases and assignments storage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, get_by, insert_or_skip, update_by
from psp_common.deferred import defer_insert
from psp_matching.adapters.case_rows import assignment_values, case_values, member_values, to_case
from psp_matching.adapters.orm import assignments, cases, members, supported
from psp_matching.adapters.tally import record
from psp_matching.domain.cases import Assignment, Case, TeamMember

ACTIVE = "active"
SUPERSEDED = "superseded"
LOADED = "psp.matching.loaded_cases"  # case id -> its row as read or last written (saved only when changed)
# A coordinator's re-match or assignment saves one case per transaction, last: its new rows are queued
# (``defer_insert``) and written when the transaction commits; nothing reads them back before. (Consumed events
# are written by ``adapters.batch``.)


def row_values(row: Any) -> dict[str, Any]:
    """A stored row as a dict, its instants aware (SQLite returns naive ones)."""
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
    """Outreach cases as matching saw them, and the assignments made for them.

    Team rows it adds are counted in the workload tallies (``tally.record``) in months of ``cap_time_zone``.
    """

    def __init__(self, session: AsyncSession, cap_time_zone: str = "UTC") -> None:
        self.session, self.tz = session, cap_time_zone

    def _queue(self, table: Table, row: dict[str, Any]) -> None:
        defer_insert(self.session, table, row)

    async def get(self, case_id: str, lock: bool = False, teams: bool = False) -> Case | None:
        """One case (locked for update while a handler decides on it); ``teams``: with its assignments' teams."""
        row = await get_by(self.session, cases, "case_id", case_id, lock=lock)
        if row is None:
            return None
        case = to_case(row_values(row))
        if teams:
            query = select(members.c.assignment_id, members.c.supporter_ref).where(members.c.case_id == case_id)
            found: dict[str, set[str]] = {}
            for aid, ref in await self.session.execute(query):
                found.setdefault(aid, set()).add(ref)
            case.teams = {aid: frozenset(refs) for aid, refs in found.items()}
        self.session.info.setdefault(LOADED, {})[case_id] = case_values(case)
        return case

    async def save(self, case: Case) -> None:
        """Write what the case changed: its row (inserted once, with its first outcome), a new assignment
        (superseding the active one), backups who joined. Its events are the caller's to publish."""
        values = case_values(case)
        loaded = self.session.info.setdefault(LOADED, {})
        if not case.stored:
            self._queue(cases, values)
        elif loaded.get(case.case_id) != values:
            await update_by(self.session, cases, "case_id", case.case_id, values)
        loaded[case.case_id] = values
        if case.new_assignment is not None:
            if case.stored:
                await self._supersede(case.case_id)
            await self._add_assignment(case.new_assignment)
        for member in case.joined:
            await self._join(member)
        case.stored, case.new_assignment, case.joined = True, None, []

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
        since = since.astimezone(UTC)
        params = {"people": sorted(people), "since": since}
        return frozenset(r[0] for r in await self.session.execute(SUPPORTING, params))

    async def _supersede(self, case_id: str) -> None:
        """Mark the case's active assignments superseded."""
        await self.session.execute(
            update(assignments)
            .where(assignments.c.case_id == case_id, assignments.c.status == ACTIVE)
            .values(status=SUPERSEDED)
        )

    async def _add_assignment(self, a: Assignment) -> None:
        """Queue an assignment, whom it supports and its team (primary, co-facilitators), counted."""
        team = [member_values(m) for m in a.members()]
        for row in await record(self.session, team, self.tz):
            self._queue(members, row)
        self._queue(assignments, assignment_values(a))
        for p in sorted(set(a.supported)):
            self._queue(supported, {"assignment_id": a.assignment_id, "person_ref": p, "created_at": a.created_at})

    async def _join(self, m: TeamMember) -> None:
        """A backup who acknowledged joins the team: the monthly cap and fairness count them."""
        for row in await record(self.session, [member_values(m)], self.tz):
            await insert_or_skip(self.session, members, row)

    async def assignments(
        self, limit: int, case_id: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Assignments, newest first."""
        query = select(assignments).order_by(assignments.c.created_at.desc()).limit(limit)
        if case_id is not None:
            query = query.where(assignments.c.case_id == case_id)
        if status is not None:
            query = query.where(assignments.c.status == status)
        return [row_values(r) for r in await self.session.execute(query)]

    async def member_assignments(self, supporter_ref: str, limit: int) -> list[dict[str, Any]]:
        """Assignments whose team includes ``supporter_ref``, newest first."""
        query = (
            select(assignments)
            .join(members, members.c.assignment_id == assignments.c.assignment_id)
            .where(members.c.supporter_ref == supporter_ref)
            .order_by(assignments.c.created_at.desc())
            .limit(limit)
        )
        return [row_values(r) for r in await self.session.execute(query)]

    async def is_member(self, case_id: str, supporter_ref: str) -> bool:
        """Whether ``supporter_ref`` is on the team of any assignment of the case."""
        query = (
            select(members.c.assignment_id)
            .where(members.c.case_id == case_id, members.c.supporter_ref == supporter_ref)
            .limit(1)
        )
        return (await self.session.execute(query)).first() is not None
