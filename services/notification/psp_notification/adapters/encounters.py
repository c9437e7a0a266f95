"""Encounter rows: insert, list, count (typed values in and out; no free text exists to store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_notification.adapters.orm import encounters
from psp_notification.domain.encounters import DurationBand, Encounter, Kind, Mode, Outcome, Referral


@dataclass(frozen=True)
class StoredEncounter:
    """An encounter as stored: its number on the assignment, the value and when it was logged."""

    assignment_id: str
    case_id: str
    number: int
    encounter: Encounter
    logged_at: datetime


def _referrals(raw: object) -> frozenset[Referral]:
    return frozenset(Referral(r) for r in raw) if isinstance(raw, list) else frozenset()


class EncounterRepository:
    """Encounters of one unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def count(self, assignment_id: str) -> int:
        """Encounters logged on an assignment so far."""
        query = select(func.count()).select_from(encounters).where(encounters.c.assignment_id == assignment_id)
        return int((await self.session.execute(query)).scalar_one())

    async def add(self, assignment_id: str, case_id: str, number: int, e: Encounter, now: datetime) -> None:
        """Store one encounter (referrals in a fixed order)."""
        await self.session.execute(
            insert(encounters).values(
                assignment_id=assignment_id,
                case_id=case_id,
                number=number,
                occurred_at=e.occurred_at,
                mode=e.mode.value,
                duration=e.duration.value,
                kind=e.kind.value,
                attendance=e.attendance,
                outcome=e.outcome.value,
                referrals=sorted(r.value for r in e.referrals),
                follow_up_on=e.follow_up_on,
                debrief_wanted=e.debrief_wanted,
                logged_at=now,
            )
        )

    async def of_assignment(self, assignment_id: str) -> list[StoredEncounter]:
        """Every encounter of an assignment, in the order logged."""
        query = select(encounters).where(encounters.c.assignment_id == assignment_id).order_by(encounters.c.number)
        return [_stored(r) for r in (await self.session.execute(query)).all()]


def _stored(r: object) -> StoredEncounter:
    m = r._mapping  # type: ignore[attr-defined]
    follow_up: date | None = m["follow_up_on"]
    return StoredEncounter(
        assignment_id=m["assignment_id"],
        case_id=m["case_id"],
        number=m["number"],
        logged_at=aware(m["logged_at"]),  # type: ignore[arg-type]
        encounter=Encounter(
            occurred_at=aware(m["occurred_at"]),  # type: ignore[arg-type]
            mode=Mode(m["mode"]),
            duration=DurationBand(m["duration"]),
            kind=Kind(m["kind"]),
            attendance=m["attendance"],
            outcome=Outcome(m["outcome"]),
            referrals=_referrals(m["referrals"]),
            follow_up_on=follow_up,
            debrief_wanted=bool(m["debrief_wanted"]),
        ),
    )
