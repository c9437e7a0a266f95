"""Logging an encounter: load the assignment -> the domain decides -> save, in one transaction (outbox).

Effects, all committed together or not at all:

* the encounter row (choices, a date, a count and flags only);
* an assignment not marked contacted yet becomes contacted, at the encounter's time (time to first contact is
  measured to it), with the usual check-in reminders and a 'contacted' status;
* status ``encounter_logged`` on psp.outreach-status.v1 with counts only (``EncounterCounts``);
* a tier-3 (professional counselling) or crisis referral: a coordinator page (purpose ``referral``) due at once,
  its text saying only the case and "tier-3/crisis referral";
* a follow-up date: a check-in reminder to the supporter who acknowledged (the coordinator if nobody did), due at
  ``PSP_FOLLOW_UP_REMINDER_TIME`` local time (the facility's zone) on that date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from psp_common.db import UnitOfWork
from psp_common.events.status import EncounterCounts, OutreachStatus
from psp_notification.adapters.encounters import EncounterRepository, StoredEncounter
from psp_notification.adapters.repository import Repository
from psp_notification.domain.encounters import Actor, Encounter, NotYours, check_may_log
from psp_notification.domain.model import COORDINATOR, Purpose
from psp_notification.feeds import facility_zone
from psp_notification.handlers import Row, mark_contacted, new_page, record_status
from psp_notification.settings import NotificationSettings


async def _assignment(repo: Repository, assignment_id: str) -> Row:
    a = await repo.assignment(assignment_id)
    if a is None:
        raise NotYours("assignment_id", "no such assignment of yours")
    return a


def follow_up_due(e: Encounter, zone: ZoneInfo, settings: NotificationSettings) -> datetime | None:
    """When the follow-up check-in reminder is due: the configured local time on the follow-up date."""
    if e.follow_up_on is None:
        return None
    return datetime.combine(e.follow_up_on, settings.follow_up_reminder_time, tzinfo=zone).astimezone(UTC)


async def _page(
    repo: Repository, a: Row, recipient: str, purpose: Purpose, due_at: datetime, now: datetime, suffix: str
) -> None:
    await new_page(
        repo,
        scope=a["assignment_id"],
        case_id=a["case_id"],
        assignment_id=a["assignment_id"],
        recipient=recipient,
        purpose=purpose,
        urgency=a["urgency"],
        due_at=due_at,
        now=now,
        key_suffix=suffix,
    )


async def log_encounter(
    uow: UnitOfWork,
    assignment_id: str,
    encounter: Encounter,
    actor: Actor,
    settings: NotificationSettings,
    now: datetime,
) -> int:
    """Store the encounter and its effects; commit; return its number on the assignment."""
    repo, store = Repository(uow.session), EncounterRepository(uow.session)
    a = await _assignment(repo, assignment_id)
    check_may_log(actor, a["state"], a["acknowledged_by"])
    encounter.validate(now, a["matched_at"])
    number = await store.count(assignment_id) + 1
    await store.add(assignment_id, a["case_id"], number, encounter, now)
    if a["contacted_at"] is None:
        await mark_contacted(uow, repo, a, settings, encounter.occurred_at, now)
    if encounter.urgent_referral:
        await _page(repo, a, COORDINATOR, Purpose.REFERRAL, now, now, f"-{number}")
    due = follow_up_due(encounter, facility_zone(settings, a["facility"]), settings)
    if due is not None:
        who = a["acknowledged_by"] or COORDINATOR
        await _page(repo, a, who, Purpose.CHECKIN, due, now, f"-follow-up-{number}")
    counts = EncounterCounts(number=number, referrals=len(encounter.referrals), follow_up=due is not None)
    await record_status(
        uow,
        repo,
        a,
        OutreachStatus.ENCOUNTER_LOGGED,
        now,
        assignment_id=assignment_id,
        set_case=False,
        detail=f"encounter {number}",
        encounter=counts,
    )
    await uow.commit()
    return number


async def list_encounters(uow: UnitOfWork, assignment_id: str, actor: Actor) -> list[StoredEncounter]:
    """The encounters of an assignment the actor may see (the one who acknowledged it, or a coordinator)."""
    a = await _assignment(Repository(uow.session), assignment_id)
    if not actor.coordinator and a["acknowledged_by"] not in actor.refs:
        raise NotYours("assignment_id", "no such assignment of yours")
    return await EncounterRepository(uow.session).of_assignment(assignment_id)
