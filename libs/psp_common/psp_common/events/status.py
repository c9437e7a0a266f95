"""Notification context: lifecycle of an outreach, for downstream consumers and safety-call feeds."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field

from psp_common.events.envelope import AwareDatetime, Envelope, Frozen
from psp_common.events.outreach import IncidentFacts
from psp_common.events.vocab import StaffRef, Urgency


def _absent(value: object) -> bool:
    """Fields added after the first consumers are left out of the JSON when None (see outreach._absent)."""
    return value is None


class OutreachStatus(StrEnum):
    """Lifecycle states of an outreach."""

    REQUESTED = "requested"
    ASSIGNED = "assigned"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    DECLINED = "declined"
    ESCALATED = "escalated"
    CONTACTED = "contacted"
    ENCOUNTER_LOGGED = "encounter_logged"  # counts only: see OutreachStatusChanged.encounter
    HANDED_BACK = "handed_back"  # the supporter who acknowledged gave the case back (the next one is paged)
    CLOSED = "closed"
    UNMATCHED = "unmatched"
    # A person to reach is not in notification's contacts directory: the case goes on (its supporter is paged and
    # shown the coordinator's number) and the listener holds the incident for the coordinator (triage
    # 'unknown_staff'). Does not move the case's status; only the listener acts on it.
    COLLEAGUE_UNKNOWN = "colleague_unknown"


def status_marker(status: OutreachStatus) -> bytes:
    """Bytes the JSON of every OutreachStatusChanged with ``status`` holds (a subscription's ``markers``)."""
    return f'"{status.value}"'.encode()


class EncounterCounts(Frozen):
    """What an ``encounter_logged`` status says about the encounter: counts only.

    No names, no mode or outcome, and no referral kinds (a crisis referral of a named case would be clinical).
    """

    number: int = Field(ge=1, description="Encounters logged on this assignment so far, this one included.")
    referrals: int = Field(ge=0, description="How many referrals were made in this encounter.")
    follow_up: bool = Field(description="Whether a follow-up check-in was scheduled.")


class UnknownColleagues(Frozen):
    """What a ``colleague_unknown`` status says about the incident: its reference and codes, and the pseudonyms of
    the people notification's contacts directory does not know (no names, no contact details)."""

    incident_ref: str = Field(description="Opaque reference of the incident the case is for.")
    report_version: int = Field(ge=1, description="Report version the case was requested on.")
    incident_occurred_at: AwareDatetime = Field(description="When the incident occurred.")
    people: tuple[StaffRef, ...] = Field(min_length=1, description="The people to reach who are not in it.")
    incident: IncidentFacts = Field(description="The incident's codes as rules read them.")


class OutreachStatusChanged(Envelope):
    """An outreach moved to a new lifecycle state (pseudonymized; no contact details)."""

    case_id: UUID = Field(description="Outreach case id.")
    assignment_id: UUID | None = Field(None, description="Assignment id, once matched.")
    status: OutreachStatus = Field(description="The new state.")
    facility: str = Field(description="Facility code.")
    unit: str = Field(description="Unit code.")
    urgency: Urgency | None = Field(None, description="Urgency of the case.")
    supporter_ref: str | None = Field(
        None,
        description="Pseudonym of the supporter concerned, if any; on 'acknowledged' the one who took the case "
        "(a backup included: matching counts it toward their monthly cap).",
    )
    channel: str | None = Field(None, description="Channel used, e.g. 'webhook', 'console'.")
    detail: str | None = Field(None, description="Short non-identifying explanation.")
    encounter: EncounterCounts | None = Field(
        None, description="On 'encounter_logged' only: counts about the encounter (nothing else about it)."
    )
    unknown: UnknownColleagues | None = Field(
        None,
        exclude_if=_absent,
        description="On 'colleague_unknown' only: the incident and the people the contacts directory lacks. "
        "Optional, so consumers that predate it keep working.",
    )

    def partition_key(self) -> str:
        """Keyed by case."""
        return str(self.case_id)
