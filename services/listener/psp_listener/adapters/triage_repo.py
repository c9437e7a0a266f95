"""Triage repository: held report versions, their drafts and the coordinator's decisions."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, any_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, dialect_of, get_by, update_by
from psp_listener.adapters.drafts import IncidentDraft
from psp_listener.adapters.orm import reports, triage
from psp_listener.domain.triage import Decision, DismissReason, TriageItem, TriageReason, TriageStatus


@dataclass(frozen=True)
class TriageRow:
    """An item with its draft (what the API shows)."""

    item: TriageItem
    draft: IncidentDraft


@dataclass(frozen=True)
class TriageFilter:
    """List filters; None means any."""

    status: TriageStatus | None = None
    reason: TriageReason | None = None
    facility: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _item(row: Any) -> TriageItem:
    decided = Decision(row.decided_by, aware(row.decided_at)) if row.decided_by and row.decided_at else None
    return TriageItem(
        id=row.id,
        incident_ref=row.incident_ref,
        report_version=row.report_version,
        reasons=tuple(TriageReason(r) for r in row.reasons.split(",") if r),
        received_at=aware(row.received_at) or row.received_at,
        status=TriageStatus(row.status),
        decision=decided,
        dismiss_reason=DismissReason(row.dismiss_reason) if row.dismiss_reason else None,
        event_id=row.event_id,
        attached=row.attached,
    )


def _values(item: TriageItem, draft: IncidentDraft) -> dict[str, Any]:
    return {
        "id": item.id,
        "incident_ref": item.incident_ref,
        "report_version": item.report_version,
        "source_kind": draft.source_kind.value,
        "reasons": ",".join(r.value for r in item.reasons),
        "status": item.status.value,
        "facility": draft.facility,
        "occurred_at": draft.occurred_at,
        "received_at": item.received_at,
        "draft": draft.model_dump_json(),
        "attached": 0,
    }


def _supersede(refs: Any) -> Any:
    stored = select(reports.c.version).where(reports.c.incident_ref == triage.c.incident_ref).scalar_subquery()
    return (
        update(triage)
        .where(refs, triage.c.report_version < stored, triage.c.status == TriageStatus.OPEN.value)
        .values(status=TriageStatus.SUPERSEDED.value)
    )


_SUPERSEDE_PG = _supersede(triage.c.incident_ref == any_(bindparam("refs", type_=postgresql.ARRAY(String))))
_SUPERSEDE = _supersede(triage.c.incident_ref.in_(bindparam("refs", expanding=True)))


def _row(row: Any) -> TriageRow:
    return TriageRow(_item(row), IncidentDraft.model_validate_json(row.draft))


def _filtered(query: Select[Any], f: TriageFilter) -> Select[Any]:
    c = triage.c
    if f.status is not None:
        query = query.where(c.status == f.status.value)
    if f.reason is not None:  # reasons is a comma-joined list of enum values (no value is a prefix of another)
        query = query.where(c.reasons.contains(f.reason.value, autoescape=True))
    if f.facility is not None:
        query = query.where(c.facility == f.facility)
    if f.since is not None:
        query = query.where(c.received_at >= f.since)
    if f.until is not None:
        query = query.where(c.received_at < f.until)
    return query


class TriageRepository:
    """Triage items by id; lists, counts and decisions."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, item: TriageItem, draft: IncidentDraft) -> None:
        """Hold a new item."""
        await self.add_many([(item, draft)])

    async def add_many(self, held: Sequence[tuple[TriageItem, IncidentDraft]]) -> None:
        """Hold new items (one statement)."""
        if held:
            await self.session.execute(insert(triage).values([_values(item, draft) for item, draft in held]))

    async def get(self, item_id: str, *, lock: bool = False) -> TriageRow | None:
        """One item (locked for update when deciding, so two coordinators serialize)."""
        row = await get_by(self.session, triage, "id", item_id, lock=lock)
        return _row(row) if row is not None else None

    async def save_decision(self, item: TriageItem, draft: IncidentDraft) -> None:
        """Store the decision; the source report id is no longer needed once decided."""
        await update_by(
            self.session,
            triage,
            "id",
            item.id,
            {
                "status": item.status.value,
                "decided_by": item.decision.by if item.decision else None,
                "decided_at": item.decision.at if item.decision else None,
                "dismiss_reason": item.dismiss_reason.value if item.dismiss_reason else None,
                "event_id": item.event_id,
                "attached": item.attached,
                "draft": draft.model_copy(update={"source_id": None}).model_dump_json(),
            },
        )

    async def supersede_stale(self, refs: Collection[str]) -> int:
        """Open items of ``refs`` older than the report's stored version are superseded (one statement)."""
        if not refs:
            return 0
        pg = dialect_of(self.session) == "postgresql"
        result = await self.session.execute(_SUPERSEDE_PG if pg else _SUPERSEDE, {"refs": sorted(refs)})
        return int(getattr(result, "rowcount", 0) or 0)

    async def page(self, f: TriageFilter, limit: int, offset: int) -> tuple[list[TriageRow], int]:
        """Items newest first, and how many match."""
        query = _filtered(select(triage), f).order_by(triage.c.received_at.desc(), triage.c.id)
        rows = (await self.session.execute(query.limit(limit).offset(offset))).all()
        total = (await self.session.execute(_filtered(select(func.count()).select_from(triage), f))).scalar_one()
        return [_row(r) for r in rows], int(total)

    async def counts(self, column: str, f: TriageFilter | None = None) -> dict[str, int]:
        """Items per value of ``column`` (status, reasons or dismiss_reason)."""
        col = triage.c[column]
        query = _filtered(select(col, func.count()).group_by(col), f or TriageFilter())
        return {str(v): int(n) for v, n in (await self.session.execute(query)).all() if v is not None}

    async def reason_status_counts(self) -> dict[tuple[str, str], int]:
        """Items per (comma-joined reasons, status)."""
        c = triage.c
        query = select(c.reasons, c.status, func.count()).group_by(c.reasons, c.status)
        return {(str(r), str(s)): int(n) for r, s, n in (await self.session.execute(query)).all()}

    async def total_attached(self) -> int:
        """Staff attached over all dispatches."""
        total = (await self.session.execute(select(func.coalesce(func.sum(triage.c.attached), 0)))).scalar_one()
        return int(total)
