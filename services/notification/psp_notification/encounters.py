"""Logging an encounter: load the Assignment -> it decides -> save, in one transaction (outbox).

Effects, all committed together or not at all:

* the encounter row (choices, a date, a count and flags only);
* an assignment not marked contacted yet becomes contacted, at the encounter's time (time to first contact is
  measured to it), with the usual check-in reminders and a 'contacted' status;
* status ``encounter_logged`` on psp.outreach-status.v1 with counts only (``EncounterCounts``);
* a tier-3 (professional counselling) or crisis referral: a coordinator page (purpose ``referral``) due at once,
  its text saying only the case and "tier-3/crisis referral";
* a referral offer (``cases.offer``): support given -> accepted; support declined -> declined, and the case
  closes quietly (status ``closed``, detail "offer declined"; pending pages and reminders cancelled);
* "They declined the offer" (``decline_offer``, the case page's action): an encounter with outcome
  support_declined, so the same effects as above;
* a follow-up date: a check-in reminder to the supporter who acknowledged (the coordinator if nobody did), due at
  ``PSP_FOLLOW_UP_REMINDER_TIME`` local time (the facility's zone) on that date.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from psp_common.db import UnitOfWork
from psp_notification.adapters.assignments import AssignmentRepository
from psp_notification.adapters.encounters import EncounterRepository, StoredEncounter
from psp_notification.adapters.offers import offer_of, set_offer
from psp_notification.domain import offers
from psp_notification.domain.assignment import Assignment
from psp_notification.domain.encounters import Actor, Encounter, Kind, NotYours, Outcome
from psp_notification.domain.errors import UnknownAssignment
from psp_notification.feeds import facility_zone
from psp_notification.settings import NotificationSettings


async def _assignment(repo: AssignmentRepository, assignment_id: str, *, lock: bool = True) -> Assignment:
    try:
        return await repo.get(assignment_id, lock=lock)
    except UnknownAssignment:
        raise NotYours("assignment_id", "no such assignment of yours") from None


def follow_up_due(e: Encounter, zone: ZoneInfo, settings: NotificationSettings) -> datetime | None:
    """When the follow-up check-in reminder is due: the configured local time on the follow-up date."""
    if e.follow_up_on is None:
        return None
    return datetime.combine(e.follow_up_on, settings.follow_up_reminder_time, tzinfo=zone).astimezone(UTC)


async def log_encounter(
    uow: UnitOfWork,
    assignment_id: str,
    encounter: Encounter,
    actor: Actor,
    settings: NotificationSettings,
    now: datetime,
) -> int:
    """Store the encounter and its effects; commit; return its number on the assignment."""
    repo = AssignmentRepository(uow)
    a = await _assignment(repo, assignment_id)
    number = await EncounterRepository(uow.session).count(assignment_id) + 1
    due = follow_up_due(encounter, facility_zone(settings, a.facility), settings)
    a.log_encounter(encounter, actor, number, now, follow_up_at=due, checkin_hours=settings.checkin_hours)
    offer = offers.answer(await offer_of(uow.session, a.case_id), encounter.outcome)
    if offer is offers.Offer.DECLINED:  # quietly: no check-ins, no escalation, nobody else paged
        a.close(now, detail=offers.DECLINED_DETAIL)
    await repo.save(a)
    if offer is not None:
        await set_offer(uow.session, a.case_id, offer)
    await uow.commit()
    return number


async def decline_offer(
    uow: UnitOfWork,
    assignment_id: str,
    encounter: Encounter,
    actor: Actor,
    settings: NotificationSettings,
    now: datetime,
) -> int:
    """The person declined a referral offer: an encounter with outcome support_declined, logged like any other
    (the offer becomes declined and the case closes quietly); NotAnOffer when the case is no open offer."""
    a = await _assignment(AssignmentRepository(uow), assignment_id, lock=False)
    offers.require_open(await offer_of(uow.session, a.case_id))
    declined = replace(encounter, outcome=Outcome.SUPPORT_DECLINED, kind=Kind.ONE_TO_ONE, attendance=None)
    return await log_encounter(uow, assignment_id, declined, actor, settings, now)


async def list_encounters(uow: UnitOfWork, assignment_id: str, actor: Actor) -> list[StoredEncounter]:
    """The encounters of an assignment the actor may see (the one who acknowledged it, or a coordinator)."""
    a = await _assignment(AssignmentRepository(uow), assignment_id, lock=False)
    a.check_reader(actor)
    return await EncounterRepository(uow.session).of_assignment(assignment_id)
