"""Notification context: safety-call feeds (what the morning and evening safety calls review)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import Field

from psp_common.events.envelope import AwareDatetime, Envelope, Frozen
from psp_common.events.outreach import RuleHit
from psp_common.events.status import OutreachStatus
from psp_common.events.vocab import SupportMode, Urgency


class FeedEntry(Frozen):
    """One flagged event in a safety-call window (no patient or staff identifiers)."""

    case_id: UUID = Field(description="Outreach case id, for coordinators to follow up.")
    unit: str = Field(description="Unit code.")
    occurred_at: AwareDatetime = Field(description="When the flagged event happened.")
    triggers: tuple[RuleHit, ...] = Field((), description="Rules that fired for the case.")
    urgency: Urgency | None = Field(None, description="How soon outreach should happen.")
    mode: SupportMode | None = Field(None, description="Individual or group support.")
    status: OutreachStatus = Field(description="Current outreach status of the case.")


class SafetyCallFeedPublished(Envelope):
    """The list of flagged events one facility's safety call reviews, published at the call time."""

    facility: str = Field(description="Facility code.")
    call: str = Field(description="Which safety call, e.g. 'morning' or 'evening'.")
    call_date: date = Field(description="Local date of the call at the facility.")
    timezone: str = Field(description="IANA time zone the window was computed in.")
    window_start: AwareDatetime = Field(description="Start of the reviewed window (inclusive).")
    window_end: AwareDatetime = Field(description="End of the reviewed window (exclusive).")
    entries: tuple[FeedEntry, ...] = Field((), description="Flagged events in the window, oldest first.")

    def partition_key(self) -> str:
        """Keyed by facility so a facility's feeds stay ordered."""
        return self.facility
