"""The delivery round's set-based statements: claim due pages (read and lease in one ``UPDATE ... RETURNING``) and
record a round's outcomes (one ``UPDATE`` on PostgreSQL, whatever the mix of sent and failed pages).

Claim: the earliest due pages that are claimable (pending and due, or leased by someone whose lease ran out) are
leased to ``owner`` and come back as they are after the update (``attempts`` already counted), each with its
assignment's state and its recipient's stored channels (read by the same statement, not locked). PostgreSQL locks
them with ``FOR UPDATE SKIP LOCKED``, so two instances never claim the same page and never wait for each other;
SQLite (``make run``) has one writer. Record: each page only while it is still being sent under the lease it was
claimed with (a page whose lease ran out and was claimed again is left to its new owner).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, column, literal_column, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import dialect_of
from psp_notification.adapters.orm import assignments, contacts, pages
from psp_notification.adapters.repository import leased_by, page_of
from psp_notification.domain.model import AssignmentState, Page, PageState


@dataclass(frozen=True, slots=True)
class Claim:
    """A page as leased, its assignment's state (None: no assignment) and its recipient's stored channels (None:
    none stored)."""

    page: Page
    assignment_state: AssignmentState | None
    channels: list[dict[str, str]] | None


def _branch(due: Any, restricted: bool) -> Any:
    """One kind of claimable page, earliest due first, up to ``n`` of them, locked (others' locks skipped)."""
    due = due.where(pages.c.id.not_in(bindparam("skip", expanding=True)))
    if restricted:
        due = due.where(pages.c.id.in_(bindparam("only", expanding=True)))
    return due.order_by(pages.c.due_at, pages.c.id).limit(bindparam("n")).with_for_update(skip_locked=True).subquery()


@functools.cache
def _claim(restricted: bool) -> Any:
    """``UPDATE pages ... WHERE id IN (due ids) RETURNING pages.*, assignment state, recipient's channels``, built
    once (with or without an id list).

    The two kinds of claimable page (pending and due; leased, lease run out) are read apart, each in due order
    through ``ix_pages_state_due`` and cut at ``n``, then merged: one query with their ``OR`` read and sorted every
    pending page before the limit, so each claim in a backlog cost as much as the backlog.
    """
    cols = (pages.c.id, pages.c.due_at)
    now: Any = bindparam("now")
    pending = _branch(select(*cols).where(pages.c.state == PageState.PENDING.value, pages.c.due_at <= now), restricted)
    expired = _branch(
        select(*cols).where(pages.c.state == PageState.SENDING.value, pages.c.lease_until <= now), restricted
    )
    both = union_all(select(pending.c.id, pending.c.due_at), select(expired.c.id, expired.c.due_at)).subquery()
    due = select(both.c.id).order_by(both.c.due_at, both.c.id).limit(bindparam("n"))
    chosen = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")  # read once: one set of ids
    # Qualified by hand: SQLite's RETURNING drops the table name, and assignments has an assignment_id too.
    state = select(assignments.c.state).where(assignments.c.assignment_id == literal_column("pages.assignment_id"))
    channels = select(contacts.c.channels).where(contacts.c.staff_ref == literal_column("pages.recipient_ref"))
    return (
        update(pages)
        .where(pages.c.id == chosen.c.id)
        .values(
            state=PageState.SENDING.value,
            lease_until=bindparam("lease"),
            lease_owner=bindparam("owner"),
            attempts=pages.c.attempts + 1,
        )
        .returning(
            *pages.c,
            state.scalar_subquery().label("assignment_state"),
            channels.scalar_subquery().label("contact_channels"),
        )
    )


async def claim_due(
    session: AsyncSession,
    now: datetime,
    lease_until: datetime,
    owner: str,
    limit: int,
    *,
    only: Sequence[int] | None = None,
    skip: Sequence[int] = (),
) -> list[Claim]:
    """Lease up to ``limit`` claimable pages (among ``only`` if given, never those in ``skip``), earliest due first;
    one statement. The pages as leased, with their assignments' states and recipients' channels."""
    if limit <= 0 or (only is not None and not only):
        return []
    params: dict[str, Any] = {"now": now, "lease": lease_until, "owner": owner, "n": limit, "skip": list(skip)}
    if only is not None:
        params["only"] = list(only)
    rows = (await session.execute(_claim(only is not None), params)).all()
    got = [Claim(page_of(r), AssignmentState(r.assignment_state) if r.assignment_state else None, r.contact_channels)
           for r in rows]  # fmt: skip
    return sorted(got, key=lambda c: (c.page.due_at, c.page.id or 0))


@dataclass(frozen=True)
class Mark:
    """What to record of one page sent (or not) under ``owner``'s lease: ``state`` sent, pending (a retry at
    ``due_at``) or failed; ``channel``, ``sent_at`` and ``ack_deadline`` are a sent page's."""

    page_id: int
    owner: str
    state: PageState
    channel: str | None = None
    sent_at: datetime | None = None
    ack_deadline: datetime | None = None
    due_at: datetime | None = None
    last_error: str | None = None


# Sent: channel, sent_at, ack_deadline and no error; not sent: the error, a retry's due time. The lease ends.
# The assignments of the supporter pages recorded sent or failed are read and locked (in id order) by the same
# statement: they learn what happened next (Delivery._statuses).
_HELD = ", ".join(f"held.{c.name}" for c in assignments.c)
_RECORD_PG = text(
    "WITH rec AS (UPDATE pages SET state = v.state, channel = COALESCE(v.channel, pages.channel), "  # noqa: S608
    "sent_at = COALESCE(v.sent_at, pages.sent_at), "
    "ack_deadline = CASE WHEN v.state = 'sent' THEN v.ack_deadline ELSE pages.ack_deadline END, "
    "due_at = COALESCE(v.due_at, pages.due_at), last_error = v.last_error, lease_until = NULL "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:owners AS varchar[]), CAST(:states AS varchar[]), "
    "CAST(:channels AS varchar[]), CAST(:sent AS timestamptz[]), CAST(:acks AS timestamptz[]), "
    "CAST(:due AS timestamptz[]), CAST(:errors AS varchar[])) "
    "AS v(id, owner, state, channel, sent_at, ack_deadline, due_at, last_error) "
    "WHERE pages.id = v.id AND pages.state = 'sending' AND pages.lease_owner = v.owner "
    "RETURNING pages.id, pages.assignment_id, pages.purpose, pages.state), "
    "held AS MATERIALIZED (SELECT assignments.* FROM assignments WHERE assignments.assignment_id IN "
    "(SELECT rec.assignment_id FROM rec WHERE rec.purpose = 'page' AND rec.state IN ('sent', 'failed')) "
    "ORDER BY assignments.assignment_id FOR UPDATE) "
    f"SELECT rec.id AS recorded_id, {_HELD} FROM rec LEFT JOIN held ON held.assignment_id = rec.assignment_id"
).columns(column("recorded_id", BigInteger), *assignments.c)


@dataclass(frozen=True)
class Recorded:
    """The ids of the pages recorded and, on PostgreSQL, the rows of their supporter pages' assignments, read and
    locked by the same statement (None elsewhere: the caller reads them)."""

    ids: set[int]
    held: list[Any] | None = None


async def record(session: AsyncSession, marks: Sequence[Mark]) -> Recorded:
    """Record every mark whose lease is still held. One statement on PostgreSQL (which also locks and reads the
    assignments of the supporter pages recorded)."""
    if not marks:
        return Recorded(set(), [])
    if dialect_of(session) != "postgresql":
        return Recorded(await _record_each(session, marks))
    params = {
        "ids": [m.page_id for m in marks],
        "owners": [m.owner for m in marks],
        "states": [m.state.value for m in marks],
        "channels": [m.channel for m in marks],
        "sent": [m.sent_at for m in marks],
        "acks": [m.ack_deadline for m in marks],
        "due": [m.due_at for m in marks],
        "errors": [m.last_error for m in marks],
    }
    rows = (await session.execute(_RECORD_PG, params)).all()
    held = {r.assignment_id: r for r in rows if r.assignment_id is not None}
    return Recorded({r.recorded_id for r in rows}, [held[a] for a in sorted(held)])


async def _record_each(session: AsyncSession, marks: Sequence[Mark]) -> set[int]:
    """SQLite (``make run``): one statement per group of pages recorded alike (sent pages of one lease, channel and
    kind of deadline together, at the group's latest send time: never an earlier deadline)."""
    groups: dict[tuple[Any, ...], list[Mark]] = {}
    for m in marks:
        key = (m.owner, m.state, m.channel, m.ack_deadline is None, m.due_at, m.last_error)
        groups.setdefault(key, []).append(m)
    done: set[int] = set()
    for (owner, state, channel, _, due, error), group in groups.items():
        values: dict[str, Any] = {"state": state.value, "last_error": error, "lease_until": None}
        if state == PageState.SENT:
            acks = [m.ack_deadline for m in group if m.ack_deadline is not None]
            sent = max(m.sent_at for m in group if m.sent_at is not None)
            values.update(channel=channel, sent_at=sent, ack_deadline=max(acks) if acks else None)
        if due is not None:
            values["due_at"] = due
        ids = [m.page_id for m in group]
        query = update(pages).where(pages.c.id.in_(ids), leased_by(owner)).values(**values).returning(pages.c.id)
        done |= set((await session.execute(query)).scalars())
    return done
