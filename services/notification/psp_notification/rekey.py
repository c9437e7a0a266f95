"""Re-key the notification database: ``python -m psp_notification.rekey < staff_ids.txt`` (psp_common.rekey).

Each person's newest channels are stored under their current pseudonym too (old rows stay until the old key
is retired: pages already queued under the old pseudonym still find them). A directory entry stored under an
old pseudonym moves to the current one, and so do the people an assignment supports (the supporter page finds
them in the directory afterwards).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common import rekey
from psp_notification.adapters.directory import DirectoryRepository
from psp_notification.adapters.orm import assignments
from psp_notification.adapters.repository import Repository
from psp_notification.settings import NotificationSettings


async def apply(session: AsyncSession, names: rekey.Renames, now: datetime) -> dict[str, int]:
    """Copy contacts stored under an old pseudonym to the current one (the newest wins); move directory entries."""
    links: dict[str, list[str]] = {}
    for old, new in names.current.items():
        links.setdefault(new, []).append(old)
    contacts = await Repository(session).link_contacts(links)
    people = DirectoryRepository(session)
    moved = [await people.link(new, names.key_id, old) for new, old in sorted(links.items())]
    return {"contacts": contacts, "directory": sum(moved), "supported": await _rename_supported(session, names)}


async def _rename_supported(session: AsyncSession, names: rekey.Renames) -> int:
    """Rename old pseudonyms in assignments' supported people; how many assignments changed."""
    rows = await session.execute(
        select(assignments.c.assignment_id, assignments.c.supported).where(assignments.c.supported.is_not(None))
    )
    changed = 0
    for assignment_id, supported in rows.all():
        if not supported:
            continue
        renamed = [names.current.get(ref, ref) for ref in supported]
        if renamed != supported:
            await session.execute(
                update(assignments).where(assignments.c.assignment_id == assignment_id).values(supported=renamed)
            )
            changed += 1
    return changed


if __name__ == "__main__":
    rekey.main(NotificationSettings, apply)
