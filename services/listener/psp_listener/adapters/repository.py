"""Report versions repository."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import update_by
from psp_listener.adapters.orm import reports

LATEST_VERSION = select(reports.c.version).where(reports.c.incident_ref == bindparam("ref")).with_for_update()


class ReportRepository:
    """Latest version of each source report (by opaque incident reference)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest_version(self, incident_ref: str) -> int | None:
        """Stored version, locked for update so concurrent amendments serialize."""
        return (await self.session.execute(LATEST_VERSION, {"ref": incident_ref})).scalar_one_or_none()

    async def save(
        self, incident_ref: str, source_kind: str, version: int, facility: str, now: datetime, exists: bool
    ) -> None:
        """Insert or move the stored version forward."""
        if exists:
            await update_by(
                self.session, reports, "incident_ref", incident_ref, {"version": version, "received_at": now}
            )
        else:
            await self.session.execute(
                insert(reports),
                {
                    "incident_ref": incident_ref,
                    "source_kind": source_kind,
                    "version": version,
                    "facility": facility,
                    "received_at": now,
                },
            )
