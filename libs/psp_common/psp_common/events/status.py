"""Notification context: lifecycle of an outreach, for downstream consumers and safety-call feeds."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field

from psp_common.events.envelope import Envelope, Frozen
from psp_common.events.vocab import Urgency


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


class EncounterCounts(Frozen):
    """What an ``encounter_logged`` status says about the encounter: counts only.

    No names, no mode or outcome, and no referral kinds (a crisis referral of a named case would be clinical).
    """

    number: int = Field(ge=1, description="Encounters logged on this assignment so far, this one included.")
    referrals: int = Field(ge=0, description="How many referrals were made in this encounter.")
    follow_up: bool = Field(description="Whether a follow-up check-in was scheduled.")


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

    def partition_key(self) -> str:
        """Keyed by case."""
        return str(self.case_id)
