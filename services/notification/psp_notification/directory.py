"""Staff directory use cases: apply an import (upsert or full sync), remove a leaver (load -> call -> save)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from psp_common.db import UnitOfWork
from psp_common.pseudonym import Pseudonymizer
from psp_notification.adapters.directory import DirectoryRepository, StoredEntry
from psp_notification.adapters.directory_import import Parsed, Problem
from psp_notification.domain.directory import DirectoryEntry


class ImportMode(StrEnum):
    """upsert: add and update the people in the file; replace: also remove everyone absent from it (leavers)."""

    UPSERT = "upsert"
    REPLACE = "replace"


@dataclass
class ImportCounts:
    """What an import changed."""

    created: int = 0
    updated: int = 0
    removed: int = 0


NO_FULL_SYNC = Problem(-1, "mode", "no one absent was removed: a rejected row has no readable staff id")


async def apply_import(
    uow: UnitOfWork, parsed: Parsed, mode: ImportMode, pseudo: Pseudonymizer, source: str, now: datetime
) -> ImportCounts:
    """Store every good person under their current pseudonym, remove leavers (active=false) and, in replace
    mode, everyone absent from the file. A rejected person is kept as they were. Commits."""
    repo = DirectoryRepository(uow.session)
    counts = ImportCounts()
    keep: set[str] = set()
    for person in parsed.people:
        refs = pseudo.pseudonyms_of(person.staff_id)
        if person.entry is None:
            counts.removed += await repo.remove(refs)
            continue
        keep.update(refs)
        _, created = await repo.save(refs, pseudo.key_id, person.entry, source, now)
        if created:
            counts.created += 1
        else:
            counts.updated += 1
    if mode is ImportMode.REPLACE:
        if any(p.staff_id is None for p in parsed.problems):
            parsed.problems.append(NO_FULL_SYNC)
        else:
            keep.update(r for p in parsed.problems if p.staff_id for r in pseudo.pseudonyms_of(p.staff_id))
            counts.removed += await repo.remove_all_but(keep)
    await uow.commit()
    return counts


async def remove(uow: UnitOfWork, staff_id: str, pseudo: Pseudonymizer) -> bool:
    """A leaver: their entry (under any active key) is deleted. True when there was one."""
    removed = await DirectoryRepository(uow.session).remove(pseudo.pseudonyms_of(staff_id))
    await uow.commit()
    return removed


async def provision(
    uow: UnitOfWork, refs: Sequence[str], key_id: str, entry: DirectoryEntry | None, now: datetime
) -> StoredEntry | None:
    """SCIM: store one person under ``refs[0]`` (their rows under ``refs[1:]`` move there), or remove them when
    ``entry`` is None (deactivated). The stored entry (None when removed)."""
    repo = DirectoryRepository(uow.session)
    if entry is None:
        await repo.remove(refs)
        await uow.commit()
        return None
    await repo.save(refs, key_id, entry, "scim", now)
    stored = await repo.find(refs[:1])
    await uow.commit()
    return stored
