"""HTTP schemas of the encounter log: closed choices only; an unknown field (free text) is a 422 naming it."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from psp_common.stats import NULL_MEANS
from psp_notification.adapters.encounters import StoredEncounter
from psp_notification.domain.encounters import (
    MAX_ATTENDANCE,
    DurationBand,
    Encounter,
    Kind,
    Mode,
    Outcome,
    Referral,
)


class EncounterIn(BaseModel):
    """One encounter, minimal by design: there is no notes field, and no other field is accepted."""

    model_config = ConfigDict(extra="forbid")

    occurred_at: AwareDatetime = Field(description="When the encounter happened (time zone required).")
    mode: Mode = Field(description="phone, in_person, video or message.")
    duration: DurationBand = Field(description="<15m, 15-30m, 30-60m or >60m.")
    kind: Kind = Field(Kind.ONE_TO_ONE, description="one_to_one or group.")
    attendance: int | None = Field(
        None, ge=1, le=MAX_ATTENDANCE, description="Group sessions only: how many attended (a count, no names)."
    )
    outcome: Outcome = Field(description="support_given, support_declined or no_answer.")
    referrals: list[Referral] = Field(
        default_factory=list,
        max_length=len(Referral),
        description="Referrals made: eap, spiritual_care, occupational_health, professional_counselling (tier 3), "
        "crisis. Tier 3 or crisis pages the coordinator at once.",
    )
    follow_up_on: date | None = Field(None, description="Follow-up needed: the date a check-in reminder is due.")
    debrief_wanted: bool = Field(False, description="The supporter would like a debrief.")

    def to_domain(self) -> Encounter:
        """The domain value (validated by the handler against the clock and the assignment)."""
        return Encounter(
            occurred_at=self.occurred_at,
            mode=self.mode,
            duration=self.duration,
            kind=self.kind,
            attendance=self.attendance,
            outcome=self.outcome,
            referrals=frozenset(self.referrals),
            follow_up_on=self.follow_up_on,
            debrief_wanted=self.debrief_wanted,
        )


class EncounterOut(EncounterIn):
    """A logged encounter."""

    number: int = Field(description="Its number on the assignment (1 = first).")
    logged_at: datetime = Field(description="When it was logged.")

    @classmethod
    def from_stored(cls, s: StoredEncounter) -> EncounterOut:
        """Map a stored encounter."""
        e = s.encounter
        return cls(
            number=s.number,
            logged_at=s.logged_at,
            occurred_at=e.occurred_at,
            mode=e.mode,
            duration=e.duration,
            kind=e.kind,
            attendance=e.attendance,
            outcome=e.outcome,
            referrals=sorted(e.referrals),
            follow_up_on=e.follow_up_on,
            debrief_wanted=e.debrief_wanted,
        )


class EncounterLogged(BaseModel):
    """Result of logging an encounter."""

    number: int = Field(description="The encounter's number on the assignment.")


class EncounterList(BaseModel):
    """The encounters of an assignment, in the order logged."""

    items: list[EncounterOut] = Field(description="Encounters.")


class TimeToFirstContact(BaseModel):
    """Minutes from a case's first match to its first contact, for cases first contacted that month."""

    count: int | None = Field(description=f"Cases first contacted that month. {NULL_MEANS}")
    percentiles: dict[str, float | None] = Field(
        description="Nearest-rank percentiles, e.g. p50, p90; null when the count is null or 0."
    )


class MonthStats(BaseModel):
    """One UTC calendar month of the encounter log (counts only; suppressed cells are null)."""

    month: str = Field(description="UTC calendar month, YYYY-MM.")
    contacts: int | None = Field(description=f"Encounters that happened that month. {NULL_MEANS}")
    support_given: int | None = Field(description=f"Encounters with outcome support_given. {NULL_MEANS}")
    support_declined: int | None = Field(description=f"Encounters with outcome support_declined. {NULL_MEANS}")
    no_answer: int | None = Field(description=f"Encounters with outcome no_answer. {NULL_MEANS}")
    hours: float | None = Field(
        description="Supporter hours: each encounter at its duration band's midpoint (<15m 7.5 min, 15-30m 22.5, "
        "30-60m 45, >60m 90), a group session once; null when contacts is null."
    )
    people_reached: int | None = Field(
        description=f"Distinct cases given support (a group case: its largest attendance). {NULL_MEANS}"
    )
    referrals: dict[str, int | None] = Field(description=f"Encounters with a referral of each kind. {NULL_MEANS}")
    follow_ups: int | None = Field(description=f"Encounters with a follow-up date. {NULL_MEANS}")
    debrief_wanted: int | None = Field(description=f"Encounters after which a debrief was wanted. {NULL_MEANS}")
    time_to_first_contact_minutes: TimeToFirstContact = Field(description="Time to first contact.")
