"""People's channels under their pseudonyms: read several at once, and after a key rotation give a pseudonym the
newest channels stored under it or its aliases (set-based: one read and at most one write per call)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_notification.adapters.bulk import one_of, upsert_many
from psp_notification.adapters.orm import contacts

Aliases = Mapping[str, Sequence[str]]  # ref -> the same person's pseudonyms under other keys


@dataclass(frozen=True)
class Contact:
    """A person's channels in preference order, stored under a pseudonym of key ``key_id``."""

    staff_ref: str
    key_id: str
    channels: list[dict[str, str]]
    updated_at: datetime


async def contacts_of(session: AsyncSession, refs: Sequence[str]) -> dict[str, Contact]:
    """Stored channels of several people (one query)."""
    if not refs:
        return {}
    rows = (await session.execute(select(contacts).where(one_of(session, contacts.c.staff_ref, refs)))).all()
    return {r.staff_ref: Contact(r.staff_ref, r.key_id, r.channels, aware(r.updated_at)) for r in rows}


async def link_contacts_many(session: AsyncSession, maps: Sequence[Aliases]) -> int:
    """Key rotation: for each alias map in turn, give each ref the newest channels stored under it or its aliases.

    A supporter may be paged under a pseudonym from one key while their channels were last saved under another
    (registered before a rotation, or changed after an old key was retired). The maps are applied in order as if
    one call each (a map sees what the maps before it copied); one read and one write for all. Returns how many
    copies were made.
    """
    wanted = [{ref: list(a) for ref, a in m.items() if a} for m in maps]
    names = sorted({n for w in wanted for ref, a in w.items() for n in (ref, *a)})
    if not names:
        return 0
    stored = await contacts_of(session, names)
    written: dict[str, Contact] = {}
    copied = 0
    for w in wanted:
        seen = dict(stored)  # one map reads the channels as they were before it
        for ref, aliases in w.items():
            newest = max((seen[n] for n in (ref, *aliases) if n in seen), key=lambda c: c.updated_at, default=None)
            if newest is None or newest.staff_ref == ref:
                continue
            if ref in seen and seen[ref].updated_at >= newest.updated_at:
                continue
            stored[ref] = written[ref] = Contact(ref, newest.key_id, newest.channels, newest.updated_at)
            copied += 1
    rows = [{"staff_ref": c.staff_ref, "key_id": c.key_id, "channels": c.channels, "updated_at": c.updated_at}
            for c in written.values()]  # fmt: skip
    await upsert_many(session, contacts, "staff_ref", rows, ("key_id", "channels", "updated_at"))
    return copied
