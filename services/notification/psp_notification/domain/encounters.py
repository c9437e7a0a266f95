"""Encounter log, minimal by design: when, how, how long, who (a count), outcome, referrals, follow-up, debrief.

There is no free-text field anywhere: every value is a choice from a fixed list, a date, a count or a flag, so
nothing clinical and no name can be written down. Pure Python: the rules raise domain errors (``domain/errors.py``)
naming the field; the HTTP edge maps them to status codes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from psp_notification.domain.errors import Conflict, Invalid, NotFound
from psp_notification.domain.model import AssignmentState


class Mode(StrEnum):
    """How the supporter met the colleague."""

    PHONE = "phone"
    IN_PERSON = "in_person"
    VIDEO = "video"
    MESSAGE = "message"


class DurationBand(StrEnum):
    """How long the encounter took (a band, never an exact time)."""

    UNDER_15M = "<15m"
    FROM_15_TO_30M = "15-30m"
    FROM_30_TO_60M = "30-60m"
    OVER_60M = ">60m"


# Minutes counted per band for /v1/stats hours: the band's midpoint; ">60m" counts as 90 minutes.
BAND_MINUTES: dict[DurationBand, float] = {
    DurationBand.UNDER_15M: 7.5,
    DurationBand.FROM_15_TO_30M: 22.5,
    DurationBand.FROM_30_TO_60M: 45.0,
    DurationBand.OVER_60M: 90.0,
}


class Kind(StrEnum):
    """One colleague or a group session."""

    ONE_TO_ONE = "one_to_one"
    GROUP = "group"


class Outcome(StrEnum):
    """What came of it."""

    SUPPORT_GIVEN = "support_given"
    SUPPORT_DECLINED = "support_declined"
    NO_ANSWER = "no_answer"


class Referral(StrEnum):
    """Where the colleague was referred; professional counselling is tier 3."""

    EAP = "eap"
    SPIRITUAL_CARE = "spiritual_care"
    OCCUPATIONAL_HEALTH = "occupational_health"
    PROFESSIONAL_COUNSELLING = "professional_counselling"
    CRISIS = "crisis"


# A referral of these kinds pages the coordinator at once.
URGENT_REFERRALS = frozenset({Referral.PROFESSIONAL_COUNSELLING, Referral.CRISIS})
MAX_ATTENDANCE = 500
MAX_FOLLOW_UP_DAYS = 366

# States an encounter can be logged in: after an acknowledgement, until closed. A coordinator may also log one
# on an escalated assignment (nobody acknowledged; the coordinator reached the colleague).
SUPPORTER_STATES = frozenset({AssignmentState.ACKNOWLEDGED, AssignmentState.CONTACTED})
COORDINATOR_STATES = SUPPORTER_STATES | {AssignmentState.ESCALATED}


class InvalidEncounter(Invalid):
    """The values do not make sense together."""


class NotYours(NotFound):
    """The caller neither acknowledged this assignment nor is a coordinator (answered like an unknown one)."""


class NotLoggable(Conflict):
    """The assignment is in a state where no encounter can be logged (not acknowledged yet, or closed)."""


@dataclass(frozen=True)
class Encounter:
    """One logged encounter (a value: validated once, never changed)."""

    occurred_at: datetime
    mode: Mode
    duration: DurationBand
    kind: Kind
    outcome: Outcome
    attendance: int | None = None
    referrals: frozenset[Referral] = frozenset()
    follow_up_on: date | None = None
    debrief_wanted: bool = False

    @property
    def urgent_referral(self) -> bool:
        """A tier-3 (professional counselling) or crisis referral: the coordinator is paged at once."""
        return bool(self.referrals & URGENT_REFERRALS)

    @property
    def people(self) -> int:
        """How many people took part besides the supporter (1 for one-to-one)."""
        return self.attendance if self.kind is Kind.GROUP and self.attendance else 1

    def validate(self, now: datetime, assigned_at: datetime) -> Encounter:
        """Check the values against each other, the clock and when the case was assigned; return self."""
        if self.occurred_at.tzinfo is None:
            raise InvalidEncounter("occurred_at", "occurred_at must carry a time zone")
        if self.occurred_at > now:
            raise InvalidEncounter("occurred_at", "occurred_at is in the future")
        if self.occurred_at < assigned_at:
            raise InvalidEncounter("occurred_at", "occurred_at is before the case was assigned")
        if self.kind is Kind.ONE_TO_ONE and self.attendance is not None:
            raise InvalidEncounter("attendance", "attendance is only for group sessions")
        if self.kind is Kind.GROUP and (self.attendance is None or not 1 <= self.attendance <= MAX_ATTENDANCE):
            raise InvalidEncounter("attendance", f"a group session needs an attendance of 1 to {MAX_ATTENDANCE}")
        if self.outcome is Outcome.NO_ANSWER and self.referrals:
            raise InvalidEncounter("referrals", "no referral can be made when nobody answered")
        if self.follow_up_on is not None:
            days = (self.follow_up_on - self.occurred_at.date()).days
            if days < 0:
                raise InvalidEncounter("follow_up_on", "follow_up_on is before the encounter")
            if days > MAX_FOLLOW_UP_DAYS:
                raise InvalidEncounter("follow_up_on", f"follow_up_on is more than {MAX_FOLLOW_UP_DAYS} days ahead")
        return self


@dataclass(frozen=True)
class Actor:
    """Who logs: their own pseudonyms (every active key) and whether they are a coordinator."""

    refs: frozenset[str]
    coordinator: bool = False


def check_may_log(actor: Actor, state: str, acknowledged_by: str | None) -> None:
    """Only the supporter who acknowledged (or a coordinator), on an acknowledged or contacted case not closed."""
    if not actor.coordinator and (acknowledged_by is None or acknowledged_by not in actor.refs):
        raise NotYours("assignment_id", "no such assignment of yours")
    allowed: Collection[AssignmentState] = COORDINATOR_STATES if actor.coordinator else SUPPORTER_STATES
    if state == AssignmentState.CLOSED:
        raise NotLoggable("assignment_id", "the case is closed")
    if state not in allowed:
        raise NotLoggable("assignment_id", f"the assignment is {state}: nobody acknowledged it yet")
