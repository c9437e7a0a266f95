"""Report versions repository: read a batch's stored versions in one query, write them in one statement each."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, any_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import dialect_of
from psp_listener.adapters.orm import reports

_Strs = postgresql.ARRAY(String)
_VERSIONS_PG = (  # rows locked in key order, so two batches touching the same reports wait instead of deadlocking
    select(reports.c.incident_ref, reports.c.version)
    .where(reports.c.incident_ref == any_(bindparam("refs", type_=_Strs)))
    .order_by(reports.c.incident_ref)
    .with_for_update()
)
_VERSIONS = select(reports.c.incident_ref, reports.c.version).where(
    reports.c.incident_ref.in_(bindparam("refs", expanding=True))
)
_COLUMNS = ["incident_ref", "source_kind", "version", "facility", "received_at"]
_UNNESTED = select(  # PostgreSQL zips set-returning functions of equal length in a select list
    func.unnest(bindparam("b_incident_ref", type_=_Strs)),
    func.unnest(bindparam("b_source_kind", type_=_Strs)),
    func.unnest(bindparam("b_version", type_=postgresql.ARRAY(Integer))),
    func.unnest(bindparam("b_facility", type_=_Strs)),
    bindparam("b_received_at", type_=DateTime(timezone=True)),
)
_INSERT_PG = insert(reports).from_select(_COLUMNS, _UNNESTED)
_NEW_PG = (
    postgresql.insert(reports)
    .from_select(_COLUMNS, _UNNESTED)
    .on_conflict_do_nothing(index_elements=["incident_ref"])
    .returning(reports.c.incident_ref)
)
_ADVANCE_ROWS = select(
    func.unnest(bindparam("b_incident_ref", type_=_Strs)).label("ref"),
    func.unnest(bindparam("b_version", type_=postgresql.ARRAY(Integer))).label("version"),
).subquery("advanced")
_ADVANCE_PG = (
    update(reports)
    .where(reports.c.incident_ref == _ADVANCE_ROWS.c.ref)
    .values(version=_ADVANCE_ROWS.c.version, received_at=bindparam("b_received_at", type_=DateTime(timezone=True)))
)
_ADVANCE = (
    update(reports)
    .where(reports.c.incident_ref == bindparam("ref"))
    .values(version=bindparam("v"), received_at=bindparam("at"))
)


@dataclass(frozen=True)
class ReportRow:
    """A report's stored version (what the reports table keeps)."""

    incident_ref: str
    source_kind: str
    version: int
    facility: str


def _columns(rows: Sequence[ReportRow], now: datetime) -> dict[str, Any]:
    return {
        "b_incident_ref": [r.incident_ref for r in rows],
        "b_source_kind": [r.source_kind for r in rows],
        "b_version": [r.version for r in rows],
        "b_facility": [r.facility for r in rows],
        "b_received_at": now,
    }


class ReportRepository:
    """Latest version of each source report (by opaque incident reference)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest_versions(self, refs: Collection[str]) -> dict[str, int]:
        """Stored versions of ``refs`` (absent: none stored), locked for update so amendments serialize."""
        if not refs:
            return {}
        pg = dialect_of(self.session) == "postgresql"
        query = _VERSIONS_PG if pg else _VERSIONS
        rows = await self.session.execute(query, {"refs": sorted(refs)})
        return {ref: int(version) for ref, version in rows.all()}

    async def insert_many(self, rows: Sequence[ReportRow], now: datetime) -> None:
        """Store reports seen for the first time (one statement; a clash with a concurrent batch raises)."""
        if not rows:
            return
        if dialect_of(self.session) == "postgresql":
            await self.session.execute(_INSERT_PG, _columns(rows, now))
            return
        await self.session.execute(insert(reports).values([_values(r, now) for r in rows]))

    async def insert_new(self, rows: Sequence[ReportRow], now: datetime) -> set[str]:
        """Store the reports not stored yet (one statement); return the references that were new."""
        if not rows:
            return set()
        if dialect_of(self.session) == "postgresql":
            return set((await self.session.execute(_NEW_PG, _columns(rows, now))).scalars())
        stmt = (
            sqlite.insert(reports)
            .values([_values(r, now) for r in rows])
            .on_conflict_do_nothing(index_elements=["incident_ref"])
            .returning(reports.c.incident_ref)
        )
        return set((await self.session.execute(stmt)).scalars())

    async def advance_many(self, rows: Sequence[ReportRow], now: datetime) -> None:
        """Move stored versions forward (one statement)."""
        if not rows:
            return
        if dialect_of(self.session) == "postgresql":
            params = {"b_incident_ref": [r.incident_ref for r in rows], "b_version": [r.version for r in rows]}
            await self.session.execute(_ADVANCE_PG, {**params, "b_received_at": now})
            return
        await self.session.execute(_ADVANCE, [{"ref": r.incident_ref, "v": r.version, "at": now} for r in rows])


def _values(row: ReportRow, now: datetime) -> dict[str, Any]:
    return {
        "incident_ref": row.incident_ref,
        "source_kind": row.source_kind,
        "version": row.version,
        "facility": row.facility,
        "received_at": now,
    }
