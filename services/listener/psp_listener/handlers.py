"""Listener handlers: take one intake message in a unit of work."""

from __future__ import annotations

import uuid

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events.envelope import utcnow
from psp_common.events.intake import IncidentObserved, SourceKind
from psp_common.events.vocab import StaffRef
from psp_common.pseudonym import Pseudonymizer
from psp_listener.adapters.repository import ReportRepository
from psp_listener.adapters.schemas import OccurrenceReportV1
from psp_listener.domain.model import Disposition, Outcome, amendment_disposition


def normalize(report: OccurrenceReportV1, pseudo: Pseudonymizer) -> IncidentObserved:
    """Map a native report to the bus event: pseudonymize staff, drop patient identifiers and narrative."""
    ref = pseudo.reference("report", f"{report.source_system}:{report.report_id}")
    staff: dict[str, StaffRef] = {}
    for person in report.involved_staff:
        p = pseudo.pseudonym(person.staff_id)
        staff.setdefault(p, StaffRef(
            pseudonym=p, key_id=pseudo.key_id, role=person.role, involvement=person.involvement
        ))
    return IncidentObserved(
        occurred_at=report.occurred_at,
        correlation_id=_uuid_from(ref, report.version),
        incident_ref=ref,
        report_version=report.version,
        source_kind=SourceKind.NATIVE,
        facility=report.facility,
        unit=report.unit,
        facility_tz=report.facility_tz,
        reported_at=report.reported_at,
        event_class=report.event_class,
        category=report.category,
        harm_level=report.harm_level,
        patient_age_group=report.patient.age_group if report.patient else None,
        staff=tuple(staff.values()),
        cis_flags=tuple(dict.fromkeys(report.cis_flags)),
    )


def _uuid_from(ref: str, version: int) -> uuid.UUID:
    """Correlation id shared by everything one report version causes."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"psp:{ref}:{version}")


async def accept_incident(event: IncidentObserved, uow: UnitOfWork) -> Outcome:
    """Store the version and queue the event, unless it is a resend or an older amendment."""
    repo = ReportRepository(uow.session)
    stored = await repo.latest_version(event.incident_ref)
    disposition = amendment_disposition(stored, event.report_version)
    if disposition is Disposition.ACCEPTED:
        await repo.save(
            event.incident_ref, event.source_kind.value, event.report_version, event.facility,
            utcnow(), exists=stored is not None,
        )
        uow.publish(topics.INCIDENT_OBSERVED, event)
        await uow.commit()
        return Outcome(disposition, event.incident_ref, event.report_version, str(event.event_id))
    return Outcome(disposition, event.incident_ref, event.report_version)


async def accept_native_report(report: OccurrenceReportV1, uow: UnitOfWork, pseudo: Pseudonymizer) -> Outcome:
    """Normalize and accept a native occurrence report."""
    return await accept_incident(normalize(report, pseudo), uow)
