"""Listener handlers: take one normalized intake message in a unit of work."""

from __future__ import annotations

from psp_common import topics
from psp_common.clock import utcnow
from psp_common.db import UnitOfWork
from psp_common.events.intake import IncidentObserved
from psp_listener.adapters.repository import ReportRepository
from psp_listener.domain.model import Disposition, Outcome, amendment_disposition


async def accept_incident(event: IncidentObserved, uow: UnitOfWork) -> Outcome:
    """Store the version and queue the event, unless it is a resend or an older amendment; commit."""
    outcome = await stage_incident(event, uow)
    if outcome.disposition is Disposition.ACCEPTED:
        await uow.commit()
    return outcome


async def accept_batch(events: list[IncidentObserved], uow: UnitOfWork) -> list[Outcome]:
    """Stage every event in one transaction and commit once (Kafka intake; amendments in order)."""
    outcomes = [await stage_incident(event, uow) for event in events]
    await uow.commit()
    return outcomes


async def stage_incident(event: IncidentObserved, uow: UnitOfWork) -> Outcome:
    """Store the version and queue the event in ``uow`` (no commit), unless it is a resend or older."""
    repo = ReportRepository(uow.session)
    stored = await repo.latest_version(event.incident_ref)
    disposition = amendment_disposition(stored, event.report_version)
    if disposition is Disposition.ACCEPTED:
        await repo.save(
            event.incident_ref,
            event.source_kind.value,
            event.report_version,
            event.facility,
            utcnow(),
            exists=stored is not None,
        )
        uow.publish(topics.INCIDENT_OBSERVED, event)
        return Outcome(disposition, event.incident_ref, event.report_version, str(event.event_id))
    return Outcome(disposition, event.incident_ref, event.report_version)
