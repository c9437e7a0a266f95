"""The staff directory table's queries: entries stored under a pseudonym, found under any active key's."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_notification.adapters.orm import directory
from psp_notification.domain.directory import DirectoryEntry

CHUNK = 500  # refs per IN (...) list


@dataclass(frozen=True)
class StoredEntry:
    """A directory row: the pseudonym it is stored under, its key, the entry, where it came from and when."""

    staff_ref: str
    key_id: str
    entry: DirectoryEntry
    source: str
    updated_at: datetime
    scim_id: str | None = None


def _chunks(refs: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(refs), CHUNK):
        yield refs[i : i + CHUNK]


class DirectoryRepository:
    """Reads and writes of the directory in one unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def save(
        self, refs: Sequence[str], key_id: str, entry: DirectoryEntry, source: str, now: datetime
    ) -> tuple[str, bool]:
        """Store ``entry`` under ``refs[0]`` (the current key's pseudonym); a row under ``refs[1:]`` (the same
        person under previous keys) moves there, keeping its SCIM id. Returns the SCIM id and whether the person
        was new."""
        rows = await self._rows(refs)
        values = {
            "key_id": key_id,
            "display_name": entry.display_name,
            "role": entry.role,
            "unit": entry.unit,
            "phone": entry.phone,
            "pager": entry.pager,
            "email": entry.email,
            "source": source,
            "updated_at": now,
        }
        keep = next((r for r in refs if r in rows), None)
        if keep is None:
            scim_id = str(uuid.uuid4())
            await self.session.execute(insert(directory).values(staff_ref=refs[0], scim_id=scim_id, **values))
            return scim_id, True
        others = [r for r in rows if r != keep]
        if others:
            await self.session.execute(delete(directory).where(directory.c.staff_ref.in_(others)))
        scim_id = rows[keep] or str(uuid.uuid4())
        await self.session.execute(
            update(directory).where(directory.c.staff_ref == keep).values(staff_ref=refs[0], scim_id=scim_id, **values)
        )
        return scim_id, False

    async def _rows(self, refs: Sequence[str]) -> dict[str, str | None]:
        """The SCIM id of each of ``refs`` that has an entry."""
        query = select(directory.c.staff_ref, directory.c.scim_id).where(directory.c.staff_ref.in_(refs))
        return {r.staff_ref: r.scim_id for r in await self.session.execute(query)}

    async def refs_among(self, refs: Sequence[str]) -> set[str]:
        """Which of ``refs`` have an entry."""
        found: set[str] = set()
        for part in _chunks(refs):
            rows = await self.session.execute(select(directory.c.staff_ref).where(directory.c.staff_ref.in_(part)))
            found.update(r[0] for r in rows)
        return found

    async def find(self, refs: Sequence[str]) -> StoredEntry | None:
        """The entry stored under the first of ``refs`` that has one (current key's pseudonym first)."""
        return await self._find(refs, directory.c.staff_ref.in_(refs))

    async def find_scim(self, scim_id: str) -> StoredEntry | None:
        """The entry with SCIM id ``scim_id``."""
        return await self._find([], directory.c.scim_id == scim_id)

    async def _find(self, refs: Sequence[str], where: Any) -> StoredEntry | None:
        rows = (await self.session.execute(select(directory).where(where))).all()
        refs = refs or [r.staff_ref for r in rows]
        by_ref = {r.staff_ref: r for r in rows}
        row = next((by_ref[r] for r in refs if r in by_ref), None)
        if row is None:
            return None
        entry = DirectoryEntry(
            display_name=row.display_name,
            role=row.role,
            unit=row.unit,
            phone=row.phone,
            pager=row.pager,
            email=row.email,
        )
        return StoredEntry(row.staff_ref, row.key_id, entry, row.source, aware(row.updated_at), row.scim_id)

    async def count(self) -> int:
        """How many people the directory holds."""
        return int((await self.session.execute(select(func.count()).select_from(directory))).scalar_one())

    async def is_empty(self) -> bool:
        """Whether the directory holds nobody (reads at most one row, where ``count`` reads them all)."""
        return (await self.session.execute(select(directory.c.staff_ref).limit(1))).first() is None

    async def page(self, offset: int, limit: int) -> list[StoredEntry]:
        """Entries in SCIM id order, ``limit`` from ``offset``."""
        query = select(directory.c.staff_ref).order_by(directory.c.scim_id).offset(offset).limit(limit)
        refs = [r[0] for r in await self.session.execute(query)]
        return [e for r in refs if (e := await self.find([r])) is not None]

    async def remove(self, refs: Sequence[str]) -> bool:
        """Remove the person stored under any of ``refs``; True when there was someone to remove."""
        done = await self.session.execute(delete(directory).where(directory.c.staff_ref.in_(refs)))
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def remove_all_but(self, keep: set[str]) -> int:
        """Full sync: remove everyone not stored under a ref in ``keep``; returns how many were removed."""
        stored = [r[0] for r in await self.session.execute(select(directory.c.staff_ref))]
        gone = [r for r in stored if r not in keep]
        for part in _chunks(gone):
            await self.session.execute(delete(directory).where(directory.c.staff_ref.in_(part)))
        return len(gone)

    async def link(self, current: str, key_id: str, old: Sequence[str]) -> bool:
        """Key rotation: move an entry stored under an old pseudonym to ``current`` (unless it has one)."""
        if not old or await self.refs_among([current]):
            return False
        found = await self.find(old)
        if found is None:
            return False
        await self.session.execute(
            update(directory).where(directory.c.staff_ref == found.staff_ref).values(staff_ref=current, key_id=key_id)
        )
        return True
