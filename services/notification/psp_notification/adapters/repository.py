"""Notification repository: plain SQL over the service's tables (UTC datetimes in, aware datetimes out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_notification.adapters.orm import assignments, cases, contacts, feeds_published, pages, status_log
from psp_notification.domain.model import PageState, Purpose

TIME_COLUMNS = (
    "occurred_at",
    "created_at",
    "updated_at",
    "matched_at",
    "acknowledged_at",
    "contact_deadline",
    "contacted_at",
    "closed_at",
    "due_at",
    "lease_until",
    "sent_at",
    "ack_deadline",
    "responded_at",
    "at",
    "published_at",
)


def as_dict(row: Row[Any] | None) -> dict[str, Any] | None:
    """A row as a dict with timezone-aware datetimes (SQLite returns naive UTC)."""
    if row is None:
        return None
    out = dict(row._mapping)
    for name in TIME_COLUMNS:
        if name in out:
            out[name] = aware(out[name])
    return out


class Repository:
    """Queries and updates of one unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _insert_once(self, stmt: Any) -> bool:
        try:
            async with self.session.begin_nested():
                await self.session.execute(stmt)
        except IntegrityError:
            return False
        return True

    # contacts
    async def save_contact(self, ref: str, key_id: str, channels: list[dict[str, str]], now: datetime) -> None:
        """Insert or replace a person's channels."""
        values = {"key_id": key_id, "channels": channels, "updated_at": now}
        done = await self.session.execute(update(contacts).where(contacts.c.staff_ref == ref).values(**values))
        if done.rowcount == 0:  # type: ignore[attr-defined]
            await self.session.execute(insert(contacts).values(staff_ref=ref, **values))

    async def contact(self, ref: str) -> dict[str, Any] | None:
        """Stored channels of a person."""
        return as_dict((await self.session.execute(select(contacts).where(contacts.c.staff_ref == ref))).first())

    # cases
    async def case(self, case_id: str) -> dict[str, Any] | None:
        """One case."""
        return as_dict((await self.session.execute(select(cases).where(cases.c.case_id == case_id))).first())

    async def insert_case(self, **values: Any) -> bool:
        """Insert a case unless it exists."""
        return await self._insert_once(insert(cases).values(**values))

    async def update_case(self, case_id: str, **values: Any) -> None:
        """Change a case."""
        await self.session.execute(update(cases).where(cases.c.case_id == case_id).values(**values))

    async def feed_cases(self, facility: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
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
        return [d for r in (await self.session.execute(query)).all() if (d := as_dict(r))]

    async def facilities(self) -> list[str]:
        """Facilities with at least one case."""
        return list((await self.session.execute(select(cases.c.facility).distinct())).scalars())

    # assignments
    async def assignment(self, assignment_id: str) -> dict[str, Any] | None:
        """One assignment, locked for update where the database supports it."""
        query = select(assignments).where(assignments.c.assignment_id == assignment_id).with_for_update()
        return as_dict((await self.session.execute(query)).first())

    async def insert_assignment(self, **values: Any) -> bool:
        """Insert an assignment unless it exists (the assignment id is the idempotency key)."""
        return await self._insert_once(insert(assignments).values(**values))

    async def update_assignment(self, assignment_id: str, expect_state: str | None = None, **values: Any) -> bool:
        """Change an assignment, optionally only if it is still in ``expect_state``."""
        query = update(assignments).where(assignments.c.assignment_id == assignment_id)
        if expect_state is not None:
            query = query.where(assignments.c.state == expect_state)
        done = await self.session.execute(query.values(**values))
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def overdue_assignments(self, now: datetime, states: list[str]) -> list[str]:
        """Assignments not contacted by their deadline and not yet escalated for it."""
        query = select(assignments.c.assignment_id).where(
            assignments.c.state.in_(states),
            assignments.c.contact_deadline <= now,
            assignments.c.overdue_escalated.is_(False),
        )
        return list((await self.session.execute(query)).scalars())

    # pages
    async def insert_page(self, **values: Any) -> bool:
        """Insert a page unless its idempotency key exists: nobody is paged twice for the same purpose."""
        return await self._insert_once(insert(pages).values(**values))

    async def page(self, key: str) -> dict[str, Any] | None:
        """A page by idempotency key."""
        return as_dict((await self.session.execute(select(pages).where(pages.c.idempotency_key == key))).first())

    async def page_by_id(self, page_id: int) -> dict[str, Any] | None:
        """A page by row id."""
        return as_dict((await self.session.execute(select(pages).where(pages.c.id == page_id))).first())

    async def update_page(self, page_id: int, where: Any = None, **values: Any) -> bool:
        """Change a page, optionally under an extra condition; whether a row changed."""
        query = update(pages).where(pages.c.id == page_id)
        if where is not None:
            query = query.where(where)
        done = await self.session.execute(query.values(**values))
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def assignment_pages(self, assignment_id: str) -> list[dict[str, Any]]:
        """Every page of an assignment, oldest first."""
        query = select(pages).where(pages.c.assignment_id == assignment_id).order_by(pages.c.id)
        return [d for r in (await self.session.execute(query)).all() if (d := as_dict(r))]

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
        query = (
            select(pages.c.id)
            .where(
                or_(
                    and_(pages.c.state == PageState.PENDING.value, pages.c.due_at <= now),
                    and_(pages.c.state == PageState.SENDING.value, pages.c.lease_until <= now),
                )
            )
            .order_by(pages.c.due_at, pages.c.id)
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def unanswered_pages(self, now: datetime) -> list[int]:
        """Supporter pages sent, unanswered past their ack window."""
        query = (
            select(pages.c.id)
            .where(
                pages.c.purpose == Purpose.PAGE.value,
                pages.c.state == PageState.SENT.value,
                pages.c.response.is_(None),
                pages.c.ack_deadline <= now,
            )
            .order_by(pages.c.id)
        )
        return list((await self.session.execute(query)).scalars())

    async def deliveries(self, assignment_id: str | None, state: str | None, limit: int) -> list[dict[str, Any]]:
        """Pages for the coordinator view, newest first."""
        query = select(pages).order_by(pages.c.id.desc()).limit(limit)
        if assignment_id:
            query = query.where(pages.c.assignment_id == assignment_id)
        if state:
            query = query.where(pages.c.state == state)
        return [d for r in (await self.session.execute(query)).all() if (d := as_dict(r))]

    # status history and feeds
    async def log_status(self, **values: Any) -> None:
        """Append a lifecycle change."""
        await self.session.execute(insert(status_log).values(**values))

    async def history(self, case_id: str) -> list[dict[str, Any]]:
        """Lifecycle changes of a case, in order."""
        query = select(status_log).where(status_log.c.case_id == case_id).order_by(status_log.c.id)
        return [d for r in (await self.session.execute(query)).all() if (d := as_dict(r))]

    async def mark_feed(self, facility: str, call: str, day: str, event_id: str, entries: int, now: datetime) -> bool:
        """Record a published feed; False if this facility/call/date was published before."""
        return await self._insert_once(
            insert(feeds_published).values(
                facility=facility,
                call=call,
                call_date=day,
                event_id=event_id,
                entries=entries,
                published_at=now,
            )
        )
