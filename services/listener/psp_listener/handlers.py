"""Listener handlers: take one normalized intake message, or a coordinator's triage decision, in a unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from psp_common import topics
from psp_common.clock import utcnow
from psp_common.db import UnitOfWork
from psp_common.events.intake import IncidentObserved
from psp_common.events.referral import ReferralObserved
from psp_common.events.triage import TriageRequested
from psp_common.pseudonym import Pseudonymizer
from psp_listener.adapters.common import Person, staff_refs
from psp_listener.adapters.drafts import IncidentDraft, Intake, routed
from psp_listener.adapters.repository import ReportRepository
from psp_listener.adapters.triage_repo import TriageRepository, TriageRow
from psp_listener.domain.model import Disposition, Outcome, amendment_disposition
from psp_listener.domain.triage import DismissReason, TriageItem, TriageReason, TriageStatus

REFERRAL_KIND = "referral"  # reports.source_kind of a stored referral


class UnknownItem(Exception):
    """No triage item has this id."""


class FacilityNeeded(Exception):
    """The item names no facility and the dispatch gave none."""


class StaffNeeded(Exception):
    """The item identifies nobody and the dispatch attached nobody."""


async def accept_incident(intake: Intake, uow: UnitOfWork) -> Outcome:
    """Store the version and queue the event (or hold it for triage), unless it is a resend or older; commit."""
    outcome = await stage_incident(intake, uow)
    if outcome.disposition in (Disposition.ACCEPTED, Disposition.TRIAGED):
        await uow.commit()
    return outcome


async def accept_batch(intakes: list[Intake], uow: UnitOfWork) -> list[Outcome]:
    """Stage every message in one transaction and commit once (Kafka intake; amendments in order)."""
    outcomes = [await stage_incident(intake, uow) for intake in intakes]
    await uow.commit()
    return outcomes


async def stage_incident(intake: Intake, uow: UnitOfWork) -> Outcome:
    """Store the version and queue the event, or hold the draft for triage, in ``uow`` (no commit).

    A resend or an older version is a no-op; a newer version supersedes open triage items of older ones.
    """
    repo = ReportRepository(uow.session)
    stored = await repo.latest_version(intake.incident_ref)
    disposition = amendment_disposition(stored, intake.report_version)
    ref, version = intake.incident_ref, intake.report_version
    if disposition is not Disposition.ACCEPTED:
        return Outcome(disposition, ref, version)
    now = utcnow()
    await repo.save(ref, intake.source_kind.value, version, intake.facility or "", now, exists=stored is not None)
    held = TriageRepository(uow.session)
    if stored is not None:
        await held.supersede_older(ref, version)
    if isinstance(intake, IncidentDraft):
        item = TriageItem(str(uuid.uuid4()), ref, version, intake.reasons(), now)
        await held.add(item, intake)
        return Outcome(Disposition.TRIAGED, ref, version, triage_id=item.id, reasons=item.reasons)
    uow.publish(topics.INCIDENT_OBSERVED, intake)
    return Outcome(disposition, ref, version, str(intake.event_id))


async def _load(uow: UnitOfWork, item_id: str) -> TriageRow:
    row = await TriageRepository(uow.session).get(item_id, lock=True)
    if row is None:
        raise UnknownItem(item_id)
    return row


async def dispatch(
    uow: UnitOfWork,
    item_id: str,
    people: Sequence[Person],
    pseudo: Pseudonymizer,
    by: str,
    place: tuple[str | None, str | None] = (None, None),
    now: datetime | None = None,
) -> tuple[TriageRow, bool]:
    """Attach staff (pseudonymized like intake) and publish the incident; a second dispatch publishes nothing.

    Returns the row and whether an event was published now. Raises UnknownItem, NotOpen, FacilityNeeded.
    """
    row = await _load(uow, item_id)
    facility, unit = place
    if row.item.status is TriageStatus.DISPATCHED:
        return row, False
    if not (facility or row.draft.facility):
        raise FacilityNeeded(item_id)
    if not (people or row.draft.staff):
        raise StaffNeeded(item_id)
    event: IncidentObserved = row.draft.complete(staff_refs(people, pseudo), facility, unit, triaged=True)
    if row.item.dispatch(by, now or utcnow(), str(event.event_id), len(people)):
        uow.publish(topics.INCIDENT_OBSERVED, event)
        await TriageRepository(uow.session).save_decision(row.item, row.draft)
        await uow.commit()
        return row, True
    return row, False


async def dismiss(
    uow: UnitOfWork, item_id: str, reason: DismissReason, by: str, now: datetime | None = None
) -> TriageRow:
    """Close the item without outreach, recording who, when and why. Raises UnknownItem, NotOpen."""
    row = await _load(uow, item_id)
    if row.item.dismiss(reason, by, now or utcnow()):
        await TriageRepository(uow.session).save_decision(row.item, row.draft)
        await uow.commit()
    return row


async def hold_routed(event: TriageRequested, uow: UnitOfWork) -> TriageItem:
    """Hold an incident rules routed to triage (reason ``rules``); one already superseded by a newer version of
    the report is stored as superseded (counted, never offered for dispatch). The consumer commits."""
    incident = event.incident
    draft = routed(incident, tuple(h.rule_id for h in event.rules_fired))
    latest = await ReportRepository(uow.session).latest_version(incident.incident_ref)
    status = TriageStatus.SUPERSEDED if latest is not None and latest > incident.report_version else None
    item = TriageItem(
        str(uuid.uuid4()), incident.incident_ref, incident.report_version, (TriageReason.RULES,), utcnow()
    )
    item.status = status or item.status
    await TriageRepository(uow.session).add(item, draft)
    return item


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
