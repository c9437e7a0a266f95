"""Re-key the notification database: ``python -m psp_notification.rekey < staff_ids.txt`` (psp_common.rekey).

Each person's newest channels are stored under their current pseudonym too (old rows stay until the old key
is retired: pages already queued under the old pseudonym still find them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from psp_common import rekey
from psp_notification.adapters.repository import Repository
from psp_notification.settings import NotificationSettings


async def apply(session: AsyncSession, names: rekey.Renames, now: datetime) -> dict[str, int]:
    """Copy contacts stored under an old pseudonym to the current one (the newest wins)."""
    links: dict[str, list[str]] = {}
    for old, new in names.current.items():
        links.setdefault(new, []).append(old)
    return {"contacts": await Repository(session).link_contacts(links)}


if __name__ == "__main__":
    rekey.main(NotificationSettings, apply)
