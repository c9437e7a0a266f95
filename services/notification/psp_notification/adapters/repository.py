"""Notification repository: plain SQL over the service's tables (UTC datetimes in, aware datetimes out).

Pages come out as typed ``Page`` rows; assignments are loaded and saved as aggregates by ``adapters/assignments``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, get_by, insert_or_skip, upsert
from psp_notification.adapters.bulk import insert_skip_many, one_of, upsert_many
from psp_notification.adapters.case_rows import CaseRow, StatusRow, typed
from psp_notification.adapters.contacts import Aliases, Contact, contacts_of, link_contacts_many
from psp_notification.adapters.orm import assignments, cases, contacts, feeds_published, pages, status_log
from psp_notification.domain.model import Page, PageState, Purpose, Response


def leased_by(owner: str) -> Any:
    """Pages being handed to a channel under ``owner``'s lease."""
    return and_(pages.c.state == PageState.SENDING.value, pages.c.lease_owner == owner)


def claimable(now: datetime) -> Any:
    """Pages that may be claimed now: pending and due, or leased by someone whose lease ran out."""
    return or_(
        and_(pages.c.state == PageState.PENDING.value, pages.c.due_at <= now),
        and_(pages.c.state == PageState.SENDING.value, pages.c.lease_until <= now),
    )


def due_query(now: datetime, limit: int) -> Any:
    """Ids of claimable pages, earliest due first (the dispatcher's scan)."""
    return select(pages.c.id).where(claimable(now)).order_by(pages.c.due_at, pages.c.id).limit(limit)


def unanswered_query(now: datetime) -> Any:
    """Ids of supporter pages sent and unanswered past their ack window (the dispatcher's scan)."""
    return (
        select(pages.c.id)
        .where(
            pages.c.purpose == Purpose.PAGE.value,
            pages.c.state == PageState.SENT.value,
            pages.c.response.is_(None),
            pages.c.ack_deadline <= now,
        )
        .order_by(pages.c.id)
    )


def overdue_query(now: datetime, states: list[str]) -> Any:
    """Ids of assignments not contacted by their deadline and not yet escalated for it (the dispatcher's scan)."""
    return select(assignments.c.assignment_id).where(
        assignments.c.state.in_(states),
        assignments.c.contact_deadline <= now,
        assignments.c.overdue_escalated.is_(False),
    )


PAGE_FIELDS = tuple(f.name for f in fields(Page))


def page_of(row: Row[Any]) -> Page:
    """A ``pages`` row as a typed Page (aware datetimes, enums)."""
    m = row._mapping
    v = {n: aware(m[n]) if isinstance(m[n], datetime) else m[n] for n in PAGE_FIELDS}
    v["purpose"], v["state"] = Purpose(v["purpose"]), PageState(v["state"])
    v["response"] = Response(v["response"]) if v["response"] else None
    return Page(**v)


def page_row(page: Page) -> dict[str, Any]:
    """A Page as the values of a new ``pages`` row (no id: the database assigns it)."""
    return {n: getattr(page, n) for n in PAGE_FIELDS if n != "id"}


class Repository:
    """Queries and updates of one unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # contacts
    async def save_contact(self, ref: str, key_id: str, channels: list[dict[str, str]], now: datetime) -> None:
        """Insert or replace a person's channels."""
        values = {"key_id": key_id, "channels": channels, "updated_at": now}
        done = await self.session.execute(update(contacts).where(contacts.c.staff_ref == ref).values(**values))
        if done.rowcount == 0:  # type: ignore[attr-defined]
            await self.session.execute(insert(contacts).values(staff_ref=ref, **values))

    async def link_contacts(self, aliases: Aliases) -> int:
        """Key rotation: give a ref the newest channels stored under it or its aliases (see ``link_contacts_many``)."""
        return await link_contacts_many(self.session, [aliases])

    # cases
    async def case(self, case_id: str) -> CaseRow | None:
        """One case."""
        row = await get_by(self.session, cases, "case_id", case_id)
        return typed(CaseRow, row) if row is not None else None

    async def case_mode(self, case_id: str) -> str | None:
        """A case's mode (one_to_one or group), if known."""
        query = select(cases.c.mode).where(cases.c.case_id == case_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def correlation_of(self, case_id: str) -> str | None:
        """The correlation id a case was stored with."""
        query = select(cases.c.correlation_id).where(cases.c.case_id == case_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def correlations_of(self, case_ids: Iterable[str]) -> dict[str, str]:
        """The correlation id each of several cases was stored with (one query)."""
        wanted = sorted(set(case_ids))
        if not wanted:
            return {}
        query = select(cases.c.case_id, cases.c.correlation_id).where(one_of(self.session, cases.c.case_id, wanted))
        return {case_id: correlation for case_id, correlation in (await self.session.execute(query)).all()}

    async def insert_cases(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert cases (rows of one shape) unless they exist (one statement)."""
        await insert_skip_many(self.session, cases, rows)

    async def upsert_cases(self, rows: Sequence[dict[str, Any]], on_update: Sequence[str]) -> None:
        """Insert cases (one shape, distinct ids), or set only ``on_update`` on stored ones (one statement)."""
        await upsert_many(self.session, cases, "case_id", rows, on_update)

    async def insert_case(self, **values: Any) -> bool:
        """Insert a case unless it exists."""
        return await insert_or_skip(self.session, cases, values)

    async def upsert_case(self, values: dict[str, Any], on_update: list[str]) -> None:
        """Insert a case, or set only the ``on_update`` columns of the stored one (one statement)."""
        await upsert(self.session, cases, "case_id", values, on_update)

    async def feed_cases(self, facility: str, start: datetime, end: datetime) -> list[CaseRow]:
        """Flagged cases of a facility whose event happened in [start, end)."""
        query = (
            select(cases)
            .where(
                cases.c.facility == facility,
                cases.c.flagged.is_(True),
                cases.c.occurred_at >= start,
                cases.c.occurred_at < end,
            )
            .order_by(cases.c.occurred_at, cases.c.case_id)
        )
        return [typed(CaseRow, r) for r in (await self.session.execute(query)).all()]

    async def facilities(self) -> list[str]:
        """Facilities with at least one case."""
        return list((await self.session.execute(select(cases.c.facility).distinct())).scalars())

    # assignments
    async def overdue_assignments(self, now: datetime, states: list[str]) -> list[str]:
        """Assignments not contacted by their deadline and not yet escalated for it."""
        return list((await self.session.execute(overdue_query(now, states))).scalars())

    # pages
    async def insert_page(self, page: Page) -> bool:
        """Insert a page unless its idempotency key exists: nobody is paged twice for the same purpose."""
        return await insert_or_skip(self.session, pages, page_row(page))

    async def insert_pages(self, queued: Sequence[Page]) -> None:
        """Insert pages, each unless its idempotency key exists (one statement)."""
        await insert_skip_many(self.session, pages, [page_row(p) for p in queued])

    async def _pages(self, query: Any) -> list[Page]:
        return [page_of(r) for r in (await self.session.execute(query)).all()]

    async def contacts_of(self, refs: list[str]) -> dict[str, Contact]:
        """Stored channels of several people (one query)."""
        return await contacts_of(self.session, refs)

    async def pages_by_ids(self, ids: Iterable[int]) -> list[Page]:
        """Pages by row id, in id order (one query)."""
        return await self._pages(select(pages).where(pages.c.id.in_(list(ids))).order_by(pages.c.id))

    async def update_pages(self, ids: list[int], where: Any, **values: Any) -> set[int]:
        """Change the pages among ``ids`` that still meet ``where`` (one statement); return the ids changed."""
        if not ids:
            return set()
        query = update(pages).where(pages.c.id.in_(ids), where).values(**values).returning(pages.c.id)
        return set((await self.session.execute(query)).scalars())

    async def lease_pages(self, ids: list[int], where: Any, **values: Any) -> set[int]:
        """Claim pages that still meet ``where`` (one statement, attempts + 1); return the ids claimed."""
        return await self.update_pages(ids, where, attempts=pages.c.attempts + 1, **values)

    async def page_by_id(self, page_id: int) -> Page | None:
        """A page by row id."""
        row = await get_by(self.session, pages, "id", page_id)
        return page_of(row) if row is not None else None

    async def update_page(self, page_id: int, where: Any = None, **values: Any) -> bool:
        """Change a page, optionally under an extra condition; whether a row changed."""
        query = update(pages).where(pages.c.id == page_id)
        if where is not None:
            query = query.where(where)
        done = await self.session.execute(query.values(**values))
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def mark_leased(self, ids: list[int], owner: str, **values: Any) -> set[int]:
        """Change the pages among ``ids`` still being sent under ``owner``'s lease (one statement); the ids changed."""
        return await self.update_pages(ids, leased_by(owner), **values)

    async def set_case_status(self, case_ids: list[str], status: str, at: datetime) -> None:
        """Move several cases to ``status`` in one statement."""
        if case_ids:
            query = update(cases).where(one_of(self.session, cases.c.case_id, sorted(set(case_ids))))
            await self.session.execute(query.values(status=status, updated_at=at))

    async def update_leased(self, page_id: int, owner: str, **values: Any) -> bool:
        """Change a page only while it is being sent under ``owner``'s lease; whether it was."""
        return page_id in await self.mark_leased([page_id], owner, **values)

    async def cancel_pending(self, assignment_id: str, purposes: list[str]) -> None:
        """Cancel pages of an assignment that were not handed to a channel yet."""
        await self.session.execute(
            update(pages)
            .where(
                pages.c.assignment_id == assignment_id,
                pages.c.purpose.in_(purposes),
                pages.c.state == PageState.PENDING.value,
            )
            .values(state=PageState.CANCELLED.value)
        )

    async def due_pages(self, now: datetime, limit: int = 50) -> list[int]:
        """Pending pages that are due, and claimed pages whose lease ran out (crash between claim and send)."""
        return list((await self.session.execute(due_query(now, limit))).scalars())

    async def unanswered_pages(self, now: datetime) -> list[int]:
        """Supporter pages sent, unanswered past their ack window."""
        return list((await self.session.execute(unanswered_query(now))).scalars())

    async def deliveries(self, assignment_id: str | None, state: str | None, limit: int) -> list[Page]:
        """Pages for the coordinator view, newest first."""
        query = select(pages).order_by(pages.c.id.desc()).limit(limit)
        if assignment_id:
            query = query.where(pages.c.assignment_id == assignment_id)
        if state:
            query = query.where(pages.c.state == state)
        return await self._pages(query)

    # status history and feeds
    async def history(self, case_id: str) -> list[StatusRow]:
        """Lifecycle changes of a case, in order."""
        query = select(status_log).where(status_log.c.case_id == case_id).order_by(status_log.c.id)
        return [typed(StatusRow, r) for r in (await self.session.execute(query)).all()]

    async def mark_feed(self, facility: str, call: str, day: str, event_id: str, entries: int, now: datetime) -> bool:
        """Record a published feed; False if this facility/call/date was published before."""
        return await insert_or_skip(
            self.session,
            feeds_published,
            {
                "facility": facility,
                "call": call,
                "call_date": day,
                "event_id": event_id,
                "entries": entries,
                "published_at": now,
            },
        )
