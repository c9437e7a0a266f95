"""Listener handlers: take one normalized intake message, or a coordinator's triage decision, in a unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
from psp_listener.adapters.repository import ReportRepository, ReportRow
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


@dataclass
class _Plan:
    """What a batch writes: the reports rows (by reference), held drafts, and the amended references."""

    latest: dict[str, int]  # each reference's version, moved forward by every accepted intake
    rows: dict[str, ReportRow] = field(default_factory=dict)
    items: list[tuple[TriageItem, IncidentDraft]] = field(default_factory=list)
    amended: set[str] = field(default_factory=set)


async def accept_incident(intake: Intake, uow: UnitOfWork) -> Outcome:
    """Store the version and queue the event (or hold it for triage), unless it is a resend or older; commit."""
    (outcome,) = await stage_batch([intake], uow)
    if outcome.disposition in (Disposition.ACCEPTED, Disposition.TRIAGED):
        await uow.commit()
    return outcome


async def accept_batch(intakes: list[Intake], uow: UnitOfWork) -> list[Outcome]:
    """Stage every message in one transaction and commit once (Kafka intake; amendments in order)."""
    outcomes = await stage_batch(intakes, uow)
    await uow.commit()
    return outcomes


async def stage_batch(intakes: Sequence[Intake], uow: UnitOfWork) -> list[Outcome]:
    """Store the versions and queue the events, or hold drafts for triage, in ``uow`` (no commit), in order.

    Set-based: one statement stores the references seen for the first time (most of them) and says which they were,
    one query reads (and locks) the stored versions of the others, if any; one statement per table writes, whatever
    the batch size. A resend or an older version is a no-op; a newer version supersedes open triage items of older
    ones (also those held earlier in the same batch).
    """
    repo, held = ReportRepository(uow.session), TriageRepository(uow.session)
    now = utcnow()
    incoming = _first_rows(intakes)
    new = await repo.insert_new([incoming[ref] for ref in sorted(incoming)], now)  # ours until commit
    stored = await repo.latest_versions(incoming.keys() - new)
    plan = _Plan(dict(stored))
    outcomes = [_stage(intake, plan, uow, now) for intake in intakes]
    # Rows neither stored now nor found stored: only if one was deleted in between (reports never are).
    await repo.insert_many([row for ref, row in plan.rows.items() if ref not in stored and ref not in new], now)
    await repo.advance_many([row for ref, row in plan.rows.items() if ref in stored], now)
    await held.add_many(plan.items)
    await held.supersede_stale(plan.amended)  # after the rows above: items older than the stored version
    return outcomes


def _first_rows(intakes: Sequence[Intake]) -> dict[str, ReportRow]:
    """The row each reference gets when none is stored yet: its first intake's kind and facility, and the highest
    version (each newer one is accepted in turn)."""
    rows: dict[str, ReportRow] = {}
    for intake in intakes:
        ref, version = intake.incident_ref, intake.report_version
        row = rows.get(ref)
        if row is None:
            rows[ref] = ReportRow(ref, intake.source_kind.value, version, intake.facility or "")
        elif version > row.version:
            rows[ref] = replace(row, version=version)
    return rows


def _stage(intake: Intake, plan: _Plan, uow: UnitOfWork, now: datetime) -> Outcome:
    ref, version = intake.incident_ref, intake.report_version
    previous = plan.latest.get(ref)
    disposition = amendment_disposition(previous, version)
    if disposition is not Disposition.ACCEPTED:
        return Outcome(disposition, ref, version)
    plan.latest[ref] = version
    row = plan.rows.get(ref)
    plan.rows[ref] = (
        replace(row, version=version)
        if row
        else ReportRow(ref, intake.source_kind.value, version, intake.facility or "")
    )
    if previous is not None:
        plan.amended.add(ref)
    if isinstance(intake, IncidentDraft):
        item = TriageItem(str(uuid.uuid4()), ref, version, intake.reasons(), now)
        plan.items.append((item, intake))
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


async def hold_routed_many(events: Sequence[TriageRequested], uow: UnitOfWork) -> list[TriageItem]:
    """Hold incidents rules routed to triage (reason ``rules``); one already superseded by a newer version of
    the report is stored as superseded (counted, never offered for dispatch). One query reads the stored
    versions, one statement stores the items. The consumer commits."""
    latest = await ReportRepository(uow.session).latest_versions({e.incident.incident_ref for e in events})
    held: list[tuple[TriageItem, IncidentDraft]] = []
    now = utcnow()
    for event in events:
        incident = event.incident
        item = TriageItem(str(uuid.uuid4()), incident.incident_ref, incident.report_version, (TriageReason.RULES,), now)
        if latest.get(incident.incident_ref, 0) > incident.report_version:
            item.status = TriageStatus.SUPERSEDED
        held.append((item, routed(incident, tuple(h.rule_id for h in event.rules_fired))))
    await TriageRepository(uow.session).add_many(held)
    return [item for item, _ in held]


async def accept_referral(event: ReferralObserved, uow: UnitOfWork) -> Outcome:
    """Store the referral and queue its event, unless it is a resend; commit."""
    (outcome,) = await stage_referrals([event], uow)
    if outcome.disposition is Disposition.ACCEPTED:
        await uow.commit()
    return outcome


async def accept_referrals(events: list[ReferralObserved], uow: UnitOfWork) -> list[Outcome]:
    """Stage every referral in one transaction and commit once (Kafka intake)."""
    outcomes = await stage_referrals(events, uow)
    await uow.commit()
    return outcomes


async def stage_referrals(events: Sequence[ReferralObserved], uow: UnitOfWork) -> list[Outcome]:
    """A referral has one version: the first one is stored and published, a resend changes nothing. One
    statement stores those not stored yet and says which they were."""
    first: dict[str, ReferralObserved] = {}
    for event in events:
        first.setdefault(event.referral_ref, event)
    rows = [ReportRow(ref, REFERRAL_KIND, 1, event.facility) for ref, event in first.items()]
    new = await ReportRepository(uow.session).insert_new(rows, utcnow())
    outcomes = []
    for event in events:
        ref = event.referral_ref
        if ref in new and first[ref] is event:
            uow.publish(topics.REFERRAL_OBSERVED, event)
            outcomes.append(Outcome(Disposition.ACCEPTED, ref, 1, str(event.event_id)))
        else:
            outcomes.append(Outcome(Disposition.DUPLICATE, ref, 1))
    return outcomes
