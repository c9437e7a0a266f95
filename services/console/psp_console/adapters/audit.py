"""The console's own audit log (``psp_common.audit`` table): sign-ins, sign-outs, views that reveal case data.

The services audit every API call the console makes on the user's behalf; this log adds what only the console
sees (who signed in or out, refused sign-ins, which case pages were opened).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from psp_common.audit import AuditFilter, AuditPage, read_audit
from psp_console.adapters.orm import audit_log

log = logging.getLogger("psp.console.audit")


class ConsoleAudit:
    """Writes audit rows to the console's database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(
        self, at: datetime, actor: str, scopes: frozenset[str], action: str, resource: str, status: int
    ) -> None:
        """One row; a failure is logged loudly but does not hide the page."""
        row = {
            "at": at,
            "actor": actor[:128],
            "scopes": " ".join(sorted(scopes))[:200],
            "action": action[:16],
            "resource": resource[:300],
            "status": status,
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(audit_log).values(**row))
        except Exception as exc:
            log.error("audit write failed: %s", type(exc).__name__)

    async def read(self, f: AuditFilter, limit: int) -> AuditPage:
        """A page of the console's own log, newest first (the services' ``GET /v1/audit`` filters and cursor)."""
        return await read_audit(self.engine, audit_log, f, limit)
