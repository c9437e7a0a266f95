"""Notification context: lifecycle of an outreach, for downstream consumers and safety-call feeds."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field

from psp_common.events.envelope import Envelope
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
    CLOSED = "closed"
    UNMATCHED = "unmatched"


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

    def partition_key(self) -> str:
        """Keyed by case."""
        return str(self.case_id)
