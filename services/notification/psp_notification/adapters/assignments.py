"""Assignments as aggregates: load an ``Assignment`` (typed row and its pages), save it, and turn its domain events
into rows in the same unit of work (pages, status history, the case's status, encounters, outbox).

Loading locks the assignment row for update (where the database supports it), so concurrent actions on one
assignment take turns; several are locked in id order. Saving writes the row only when it changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select

from psp_common import topics
from psp_common.db import UnitOfWork, aware, get_by
from psp_common.events.status import EncounterCounts, OutreachStatusChanged
from psp_notification.adapters.bulk import insert_many, insert_new_many, one_of, update_many
from psp_notification.adapters.encounters import EncounterRepository
from psp_notification.adapters.orm import assignments, pages, status_log
from psp_notification.adapters.repository import Repository, page_of
from psp_notification.domain.assignment import Assignment
from psp_notification.domain.errors import UnknownAssignment
from psp_notification.domain.events import (
    EncounterLogged,
    Event,
    PageAnswered,
    PageQueued,
    PagesCancelled,
    StatusChanged,
)
from psp_notification.domain.model import AssignmentState, Page

ROW_FIELDS = tuple(f.name for f in fields(Assignment) if f.name not in ("pages", "events"))


def _assignment_of(row: Any, its_pages: list[Page]) -> Assignment:
    m = row._mapping
    v = {n: aware(m[n]) if isinstance(m[n], datetime) else m[n] for n in ROW_FIELDS}
    v["state"] = AssignmentState(v["state"])
    v["candidates"], v["supported"] = list(v["candidates"]), list(v["supported"]) if v["supported"] else None
    return Assignment(**v, pages=its_pages)


def _row_values(a: Assignment) -> dict[str, Any]:
    return {n: getattr(a, n) for n in ROW_FIELDS}


class AssignmentRepository:
    """Assignments of one unit of work: ``get``/``get_many`` -> the aggregate's methods -> ``save``/``save_all``."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow, self.session = uow, uow.session
        self._seen: dict[str, dict[str, Any]] = {}  # row values as loaded: save writes only what changed

    async def get(self, assignment_id: str, *, lock: bool = True) -> Assignment:
        """The assignment and its pages (UnknownAssignment if there is none)."""
        row = await get_by(self.session, assignments, "assignment_id", assignment_id, lock=lock)
        if row is None:
            raise UnknownAssignment("assignment_id", "no such assignment")
        return self._seen_as(_assignment_of(row, await self._pages_of([assignment_id])))

    async def get_many(
        self, ids: Iterable[str], *, pages_for: Iterable[str] | None = None, known: Iterable[Page] = (),
        rows: list[Any] | None = None,
    ) -> dict[str, Assignment]:  # fmt: skip
        """Several assignments, locked in id order; unknown ids are left out. Each with all its pages (two queries);
        or, given ``pages_for``, only those load theirs and the others hold just their pages among ``known`` (the
        caller's copies, e.g. pages it has just sent: enough for a method that touches only such a page).
        ``rows``: their rows, already read and locked by the caller's statement (not read again; others ignored)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        if rows is None:
            query = select(assignments).where(one_of(self.session, assignments.c.assignment_id, wanted))
            rows = (await self.session.execute(query.order_by(assignments.c.assignment_id).with_for_update())).all()
        loaded = wanted if pages_for is None else sorted(set(pages_for))
        by_assignment: dict[str, list[Page]] = {aid: [] for aid in wanted}
        for p in await self._pages_of(loaded) if loaded else ():
            by_assignment[str(p.assignment_id)].append(p)
        for p in known:
            if str(p.assignment_id) in by_assignment and str(p.assignment_id) not in loaded:
                by_assignment[str(p.assignment_id)].append(p)
        found = [_assignment_of(r, by_assignment[r.assignment_id]) for r in rows if r.assignment_id in by_assignment]
        return {a.assignment_id: self._seen_as(a) for a in found}

    async def states_of(self, ids: Iterable[str], *, lock: bool = True) -> dict[str, AssignmentState]:
        """The states of several assignments, locked in id order unless ``lock`` is False (one query)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = (
            select(assignments.c.assignment_id, assignments.c.state)
            .where(assignments.c.assignment_id.in_(wanted))
            .order_by(assignments.c.assignment_id)
        )
        if lock:
            query = query.with_for_update()
        return {aid: AssignmentState(state) for aid, state in (await self.session.execute(query)).all()}

    async def add(self, a: Assignment) -> bool:
        """Store a new assignment and its events; False (events dropped) if its id was stored before."""
        return bool(await self.add_many([a]))

    async def add_many(self, new: list[Assignment]) -> list[Assignment]:
        """Store new assignments (distinct ids) and their events, in order, in one statement per table; those whose
        id was stored before are left out (their events dropped). The assignments stored."""
        rows = [_row_values(a) for a in new]
        added = await insert_new_many(self.session, assignments, rows, "assignment_id")
        stored = [a for a in new if a.assignment_id in added]
        events = [e for a in stored for e in a.events]
        for a in new:
            a.events.clear()
        for a in stored:
            self._seen_as(a)
        await EventWriter(self.uow).write(events)
        return stored

    async def save(self, a: Assignment) -> None:
        """Write the assignment's changes and turn its events into rows."""
        await self.save_all([a])

    async def save_all(self, changed: Iterable[Assignment]) -> None:
        """Write several assignments' changes (one statement per set of changed columns), then their events in
        order (case statuses batched)."""
        events: list[Event] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for a in changed:
            values, seen = _row_values(a), self._seen.get(a.assignment_id)
            diff = {n: v for n, v in values.items() if seen is None or seen[n] != v}
            if diff:
                updates.setdefault(tuple(diff), []).append({"assignment_id": a.assignment_id, **diff})
                self._seen[a.assignment_id] = values
            events += a.events
            a.events.clear()
        for rows in updates.values():
            await update_many(self.session, assignments, "assignment_id", rows)
        await EventWriter(self.uow).write(events)

    def _seen_as(self, a: Assignment) -> Assignment:
        self._seen[a.assignment_id] = _row_values(a)
        return a

    async def _pages_of(self, ids: list[str]) -> list[Page]:
        query = select(pages).where(one_of(self.session, pages.c.assignment_id, ids)).order_by(pages.c.id)
        return [page_of(r) for r in (await self.session.execute(query)).all()]


class EventWriter:
    """Domain events -> rows of the unit of work: pages, status history and outbox, case status, encounters."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow, self.repo = uow, Repository(uow.session)

    async def write(self, events: Iterable[Event]) -> None:
        """Apply ``events`` in order: new pages in one statement (before any cancel that may concern them), the
        pages' answers in one, the status history in one (in order), the cases' statuses last, one statement per
        status."""
        moved: dict[str, tuple[str, datetime]] = {}
        history: list[dict[str, Any]] = []
        queued: list[Page] = []
        answers: dict[int, dict[str, Any]] = {}  # page id -> its answer (columns no other event here writes)
        for e in events:
            if isinstance(e, StatusChanged):
                history.append(self.status(e))
                if e.moves_case:
                    moved[e.case.case_id] = (e.status.value, e.at)
            elif isinstance(e, PageQueued):
                queued.append(e.page)
            elif isinstance(e, PagesCancelled):
                await self.repo.insert_pages(queued)
                queued = []
                await self.repo.cancel_pending(e.assignment_id, sorted(p.value for p in e.purposes))
            elif isinstance(e, PageAnswered):
                answers[e.page_id] = {"id": e.page_id, "response": e.response.value, "responded_at": e.at}
            elif isinstance(e, EncounterLogged):
                await EncounterRepository(self.uow.session).add(e.assignment_id, e.case_id, e.number, e.encounter, e.at)
        await self.repo.insert_pages(queued)
        await update_many(self.uow.session, pages, "id", list(answers.values()))
        await insert_many(self.uow.session, status_log, history)
        by_status: dict[str, list[tuple[str, datetime]]] = {}
        for case_id, (status, at) in moved.items():
            by_status.setdefault(status, []).append((case_id, at))
        for status, cases in by_status.items():
            await self.repo.set_case_status([c for c, _ in cases], status, max(at for _, at in cases))

    def status(self, e: StatusChanged) -> dict[str, Any]:
        """Queue OutreachStatusChanged (pseudonymized) on the outbox; its row of the case's history."""
        c, counts = e.case, e.encounter
        event = OutreachStatusChanged(
            occurred_at=e.at,
            correlation_id=UUID(c.correlation_id),
            case_id=UUID(c.case_id),
            assignment_id=UUID(e.assignment_id) if e.assignment_id else None,
            status=e.status,
            facility=c.facility,
            unit=c.unit,
            urgency=c.urgency,
            supporter_ref=e.supporter_ref,
            channel=e.channel,
            detail=e.detail[:300] if e.detail else None,
            encounter=EncounterCounts(number=counts.number, referrals=counts.referrals, follow_up=counts.follow_up)
            if counts
            else None,
            unknown=e.unknown,
        )
        self.uow.publish(topics.OUTREACH_STATUS, event)
        return {
            "event_id": str(event.event_id),
            "case_id": c.case_id,
            "assignment_id": e.assignment_id,
            "status": e.status.value,
            "supporter_ref": e.supporter_ref,
            "channel": e.channel,
            "detail": event.detail,
            "at": e.at,
        }
