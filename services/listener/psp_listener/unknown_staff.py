"""Colleagues notification cannot reach (status ``colleague_unknown``), held for the coordinator as triage items
with reason ``unknown_staff``.

The item holds the incident as rules read it (codes only: facility, unit, time, event class, harm, flags) and, for
each person the contacts directory lacks, only their involvement: their pseudonym says nothing to a coordinator,
and they already have a case (its supporter is shown the coordinator's number). The coordinator attaches the right
person from the directory and dispatches (the incident with that person, ``triaged``: rules decide it again and
open their case, or merge it into one they have) or dismisses it with a reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from psp_common.clock import utcnow
from psp_common.db import UnitOfWork
from psp_common.events.status import OutreachStatus, OutreachStatusChanged, UnknownColleagues
from psp_listener.adapters.drafts import IncidentDraft
from psp_listener.adapters.repository import ReportRepository
from psp_listener.adapters.triage_repo import TriageRepository
from psp_listener.domain.triage import TriageItem, TriageReason, TriageStatus


def is_unknown_colleague(event: OutreachStatusChanged) -> bool:
    """Only ``colleague_unknown`` statuses that name the incident matter here (the subscription's filter)."""
    return event.status is OutreachStatus.COLLEAGUE_UNKNOWN and event.unknown is not None


def draft_of(event: OutreachStatusChanged, unknown: UnknownColleagues) -> IncidentDraft:
    """The incident as the item holds it: its codes, and only the involvement of each person not in the directory."""
    facts = unknown.incident.model_dump(exclude={"facility_tz"})
    return IncidentDraft(
        incident_ref=unknown.incident_ref,
        report_version=unknown.report_version,
        occurred_at=unknown.incident_occurred_at,
        facility=event.facility,
        unit=event.unit,
        facility_tz=unknown.incident.facility_tz,
        unidentified=tuple(p.involvement for p in unknown.people),
        **facts,
    )


async def hold_unknown_staff_many(events: Sequence[OutreachStatusChanged], uow: UnitOfWork) -> list[TriageItem]:
    """Hold each incident for the coordinator (reason ``unknown_staff``); one stored ``superseded`` when a newer
    version of the report arrived meanwhile (counted, never offered). One query reads the stored versions, one
    statement stores the items. The consumer commits."""
    told = [(e, e.unknown) for e in events if is_unknown_colleague(e) and e.unknown is not None]
    if not told:
        return []
    latest = await ReportRepository(uow.session).latest_versions({u.incident_ref for _, u in told})
    held: list[tuple[TriageItem, IncidentDraft]] = []
    now = utcnow()
    for event, unknown in told:
        ref, version = unknown.incident_ref, unknown.report_version
        item = TriageItem(str(uuid.uuid4()), ref, version, (TriageReason.UNKNOWN_STAFF,), now)
        if latest.get(ref, 0) > version:
            item.status = TriageStatus.SUPERSEDED
        held.append((item, draft_of(event, unknown)))
    await TriageRepository(uow.session).add_many(held)
    return [item for item, _ in held]
