"""Listener handlers: take one normalized intake message in a unit of work."""

from __future__ import annotations

from psp_common import topics
from psp_common.clock import utcnow
from psp_common.db import UnitOfWork
from psp_common.events.intake import IncidentObserved
from psp_common.events.referral import ReferralObserved
from psp_listener.adapters.repository import ReportRepository
from psp_listener.domain.model import Disposition, Outcome, amendment_disposition

REFERRAL_KIND = "referral"  # reports.source_kind of a stored referral


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


async def accept_referral(event: ReferralObserved, uow: UnitOfWork) -> Outcome:
    """Store the referral and queue its event, unless it is a resend; commit."""
    outcome = await stage_referral(event, uow)
    if outcome.disposition is Disposition.ACCEPTED:
        await uow.commit()
    return outcome


async def accept_referrals(events: list[ReferralObserved], uow: UnitOfWork) -> list[Outcome]:
    """Stage every referral in one transaction and commit once (Kafka intake)."""
    outcomes = [await stage_referral(event, uow) for event in events]
    await uow.commit()
    return outcomes


async def stage_referral(event: ReferralObserved, uow: UnitOfWork) -> Outcome:
    """A referral has one version: the first one is stored and published, a resend changes nothing."""
    repo = ReportRepository(uow.session)
    if await repo.latest_version(event.referral_ref) is not None:
        return Outcome(Disposition.DUPLICATE, event.referral_ref, 1)
    await repo.save(event.referral_ref, REFERRAL_KIND, 1, event.facility, utcnow(), exists=False)
    uow.publish(topics.REFERRAL_OBSERVED, event)
    return Outcome(Disposition.ACCEPTED, event.referral_ref, 1, str(event.event_id))
