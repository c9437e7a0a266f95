"""Cases and assignments storage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, get_by, insert_or_skip, update_by
from psp_common.deferred import defer_insert, deferred_rows, flush_deferred
from psp_matching.adapters.case_rows import assignment_values, case_values, member_values, to_case
from psp_matching.adapters.orm import assignments, cases, members, supported
from psp_matching.adapters.tally import record
from psp_matching.domain.cases import Assignment, Case, TeamMember

ACTIVE = "active"
SUPERSEDED = "superseded"
LOADED = "psp.matching.loaded_cases"  # case id -> its row as read or last written (saved only when changed)
# A new case and its assignment are queued (``defer_insert``) and written in one insert per table when the
# transaction commits, so a batch of new cases costs four inserts, not four per case. Reads in the same
# transaction see them: ``get`` and the writes to an existing case flush first when the case is queued;
# ``supporting`` adds the queued rows to what it reads.
QUEUED_CASES = "psp.matching.queued_cases"


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

    def _queue(self, table: Table, row: dict[str, Any], case_id: str) -> None:
        defer_insert(self.session, table, row)
        self.session.info.setdefault(QUEUED_CASES, set()).add(case_id)

    async def _flush_if_queued(self, case_id: str) -> None:
        if case_id in self.session.info.get(QUEUED_CASES, ()):
            await flush_deferred(self.session)
            self.session.info.pop(QUEUED_CASES, None)

    async def get(self, case_id: str, lock: bool = False, teams: bool = False) -> Case | None:
        """One case (locked for update while a handler decides on it); ``teams``: with its assignments' teams."""
        await self._flush_if_queued(case_id)
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
            self._queue(cases, values, case.case_id)
        elif loaded.get(case.case_id) != values:
            await self._flush_if_queued(case.case_id)
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

    async def _supersede(self, case_id: str) -> None:
        """Mark the case's active assignments superseded."""
        await self._flush_if_queued(case_id)
        await self.session.execute(
            update(assignments)
            .where(assignments.c.case_id == case_id, assignments.c.status == ACTIVE)
            .values(status=SUPERSEDED)
        )

    async def _add_assignment(self, a: Assignment) -> None:
        """Queue an assignment, whom it supports and its team (primary, co-facilitators), counted."""
        team = [member_values(m) for m in a.members()]
        for row in await record(self.session, team, self.tz):
            self._queue(members, row, a.case_id)
        self._queue(assignments, assignment_values(a), a.case_id)
        for p in sorted(set(a.supported)):
            self._queue(
                supported, {"assignment_id": a.assignment_id, "person_ref": p, "created_at": a.created_at}, a.case_id
            )

    async def _join(self, m: TeamMember) -> None:
        """A backup who acknowledged joins the team: the monthly cap and fairness count them."""
        await self._flush_if_queued(m.case_id)
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
