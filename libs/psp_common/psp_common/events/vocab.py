"""Shared vocabulary: harm levels, CIS triggers, involvement, urgency."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from psp_common.events.envelope import Frozen


class HarmLevel(StrEnum):
    """AHRQ Common Formats harm scale."""

    DEATH = "death"
    SEVERE = "severe"
    MODERATE = "moderate"
    MILD = "mild"
    NO_HARM = "no_harm"
    UNKNOWN = "unknown"


class EventClass(StrEnum):
    """Kind of patient-safety occurrence."""

    INCIDENT = "incident"
    NEAR_MISS = "near_miss"
    UNSAFE_CONDITION = "unsafe_condition"


class CisTrigger(StrEnum):
    """Critical Incident Stress triggers (ICISF top 9, critical incidents, other work stress)."""

    # ICISF "top 9"
    SUICIDE_OF_COLLEAGUE = "suicide_of_colleague"
    LINE_OF_DUTY_DEATH = "line_of_duty_death"
    DISASTER_OR_MULTI_CASUALTY = "disaster_or_multi_casualty"
    SIGNIFICANT_EVENT_INVOLVING_CHILD = "significant_event_involving_child"
    PROLONGED_INCIDENT_ENDING_IN_LOSS = "prolonged_incident_ending_in_loss"
    EXCESSIVE_MEDIA_INTEREST = "excessive_media_interest"
    THREAT_TO_STAFF_SAFETY = "threat_to_staff_safety"
    SERIOUS_ON_THE_JOB_INJURY = "serious_on_the_job_injury"
    WORK_ON_RELATIVES_OR_KNOWN_VICTIMS = "work_on_relatives_or_known_victims"
    # Other critical incidents
    UNEXPECTED_PATIENT_DEATH = "unexpected_patient_death"
    CO_WORKER_ILLNESS_INJURY_OR_DEATH = "co_worker_illness_injury_or_death"
    INTERNAL_OR_EXTERNAL_DISASTER = "internal_or_external_disaster"
    PROFOUND_EMOTION = "profound_emotion"
    # Other work-related stress
    ASSAULT_HARASSMENT_OR_VIOLENCE = "assault_harassment_or_violence"
    WORKPLACE_CONFLICT = "workplace_conflict"
    NAMED_IN_COMPLAINT_OR_LAWSUIT = "named_in_complaint_or_lawsuit"


ICISF_TOP9: frozenset[CisTrigger] = frozenset(
    {
        CisTrigger.SUICIDE_OF_COLLEAGUE,
        CisTrigger.LINE_OF_DUTY_DEATH,
        CisTrigger.DISASTER_OR_MULTI_CASUALTY,
        CisTrigger.SIGNIFICANT_EVENT_INVOLVING_CHILD,
        CisTrigger.PROLONGED_INCIDENT_ENDING_IN_LOSS,
        CisTrigger.EXCESSIVE_MEDIA_INTEREST,
        CisTrigger.THREAT_TO_STAFF_SAFETY,
        CisTrigger.SERIOUS_ON_THE_JOB_INJURY,
        CisTrigger.WORK_ON_RELATIVES_OR_KNOWN_VICTIMS,
    }
)


class Involvement(StrEnum):
    """How a staff member was involved in an event."""

    PRIMARY = "primary"
    WITNESS = "witness"
    RESPONDER = "responder"
    AFFECTED = "affected"


class Urgency(StrEnum):
    """How soon outreach should happen."""

    IMMEDIATE = "immediate"
    WITHIN_HOURS = "within_hours"
    WITHIN_DAYS = "within_days"


class SupportMode(StrEnum):
    """One-to-one or group support."""

    INDIVIDUAL = "individual"
    GROUP = "group"


class StaffRef(Frozen):
    """A pseudonymized staff member as carried on the bus."""

    pseudonym: str = Field(description="Keyed-HMAC pseudonym of the staff identifier.", min_length=8)
    key_id: str = Field(description="Id of the HMAC key that produced the pseudonym.")
    role: str | None = Field(None, description="Profession or role, e.g. 'rn', 'physician', 'rt'.")
    involvement: Involvement = Field(Involvement.PRIMARY, description="How the person was involved.")
    aliases: tuple[str, ...] = Field(
        (),
        max_length=8,
        description="The same person's pseudonyms under the previous keys still active during a key rotation "
        "(PSP_PSEUDONYM_OLD_KEYS). Consumers match stored state (opt-outs, open cases, evaluator and supervisor "
        "lists, the roster) on the pseudonym or any alias. Empty when no previous key is active; optional, so "
        "producers and consumers that predate it keep working.",
    )

    def names(self) -> tuple[str, ...]:
        """The pseudonym and its aliases (every name this person may be stored under)."""
        return (self.pseudonym, *self.aliases)
