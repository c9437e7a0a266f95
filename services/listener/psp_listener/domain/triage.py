"""Triage: intake the listener accepted but could not attribute, held for a coordinator (pure Python).

An item is ``open`` until a coordinator dispatches it (attaching staff: the incident then takes the normal path)
or dismisses it with a reason; a newer version of the same report supersedes an open item. Dispatching or
dismissing twice is a no-op, never a second publication.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TriageReason(StrEnum):
    """Why an accepted report could not take the normal path."""

    NO_STAFF = "no_staff"  # nobody named at all
    STAFF_UNIDENTIFIED = "staff_unidentified"  # someone named without an id (e.g. FHIR display only)
    NO_FACILITY = "no_facility"  # no facility in the report and no default configured
    RULES = "rules"  # a rule routes this kind of incident to a human (TriageRequested from rules)
    UNKNOWN_STAFF = "unknown_staff"  # notification's contacts directory lacks someone to reach ('colleague_unknown')


class TriageStatus(StrEnum):
    """Where a triage item stands."""

    OPEN = "open"
    DISPATCHED = "dispatched"
    DISMISSED = "dismissed"
    SUPERSEDED = "superseded"


class DismissReason(StrEnum):
    """Why a coordinator closed an item without outreach (a closed list: no free text)."""

    NOT_STAFF_RELATED = "not_staff_related"
    NO_SUPPORT_NEEDED = "no_support_needed"
    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out_of_scope"
    TEST_OR_ERROR = "test_or_error"
    HANDLED_ELSEWHERE = "handled_elsewhere"


class TriageError(Exception):
    """A decision the item's state does not allow."""


class NotOpen(TriageError):
    """The item was already decided another way, or superseded."""

    def __init__(self, status: TriageStatus) -> None:
        super().__init__(f"item is {status.value}")
        self.status = status


@dataclass
class Decision:
    """Who decided what, when."""

    by: str
    at: datetime


@dataclass
class TriageItem:
    """One held report version and the coordinator's decision on it."""

    id: str
    incident_ref: str
    report_version: int
    reasons: tuple[TriageReason, ...]
    received_at: datetime
    status: TriageStatus = TriageStatus.OPEN
    decision: Decision | None = None
    dismiss_reason: DismissReason | None = None
    event_id: str | None = None
    attached: int = 0

    def dispatch(self, by: str, at: datetime, event_id: str, attached: int) -> bool:
        """Record a dispatch; False when it was already dispatched (nothing to publish again)."""
        if self.status is TriageStatus.DISPATCHED:
            return False
        self._require_open()
        self.status, self.decision = TriageStatus.DISPATCHED, Decision(by, at)
        self.event_id, self.attached = event_id, attached
        return True

    def dismiss(self, reason: DismissReason, by: str, at: datetime) -> bool:
        """Record a dismissal; False when it was already dismissed (the first reason stands)."""
        if self.status is TriageStatus.DISMISSED:
            return False
        self._require_open()
        self.status, self.decision, self.dismiss_reason = TriageStatus.DISMISSED, Decision(by, at), reason
        return True

    def _require_open(self) -> None:
        if self.status is not TriageStatus.OPEN:
            raise NotOpen(self.status)
