"""Notification domain: page and assignment states, page keys and message texts (pure Python)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

COORDINATOR = "coordinator"


class PageState(StrEnum):
    """Delivery state of one page row."""

    PENDING = "pending"  # due at ``due_at``, not yet handed to a channel
    SENDING = "sending"  # claimed (committed) and being handed to a channel; retried after the lease
    SENT = "sent"  # a channel accepted it
    FAILED = "failed"  # every channel failed ``send_max_attempts`` times
    CANCELLED = "cancelled"  # no longer needed (acknowledged elsewhere, case closed)


class Response(StrEnum):
    """What the paged person did with a supporter page."""

    ACKNOWLEDGED = "acknowledged"
    DECLINED = "declined"
    EXPIRED = "expired"  # no acknowledgement within the ack window


class Purpose(StrEnum):
    """Why a page is sent."""

    PAGE = "page"  # ask a supporter to take the case
    ESCALATION = "escalation"  # coordinator: every supporter declined or did not answer
    UNMATCHED = "unmatched"  # coordinator: matching found nobody eligible
    CONTACT_OVERDUE = "contact_overdue"  # coordinator: nobody contacted the colleague in time
    CHECKIN = "checkin"  # supporter: follow-up check-in reminder
    REFERRAL = "referral"  # coordinator: an encounter made a tier-3 (professional counselling) or crisis referral


class AssignmentState(StrEnum):
    """Where an assignment stands."""

    PAGING = "paging"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    CONTACTED = "contacted"
    CLOSED = "closed"


OPEN_STATES = frozenset({AssignmentState.PAGING, AssignmentState.ACKNOWLEDGED, AssignmentState.ESCALATED})
HELD_STATES = frozenset({AssignmentState.ACKNOWLEDGED, AssignmentState.CONTACTED})  # a supporter holds the case


@dataclass
class Page:
    """One page (a row of ``pages``): to whom, why, its delivery state and the answer. ``id`` is None until stored."""

    idempotency_key: str
    assignment_id: str | None
    case_id: str
    recipient_ref: str
    purpose: Purpose
    urgency: str | None
    state: PageState
    due_at: datetime
    created_at: datetime
    attempts: int = 0
    response: Response | None = None
    channel: str | None = None
    lease_until: datetime | None = None
    lease_owner: str | None = None
    sent_at: datetime | None = None
    ack_deadline: datetime | None = None
    responded_at: datetime | None = None
    last_error: str | None = None
    id: int | None = None

    @property
    def asks_supporter(self) -> bool:
        """A page asking a supporter to take an assignment's case (it has ack and decline links)."""
        return self.purpose == Purpose.PAGE and bool(self.assignment_id)

    @property
    def awaits_answer(self) -> bool:
        """A supporter page not answered yet and still pending, being sent or sent."""
        live = (PageState.PENDING, PageState.SENDING, PageState.SENT)
        return self.purpose == Purpose.PAGE and self.response is None and self.state in live


def page_key(scope: str, recipient: str, purpose: str) -> str:
    """Idempotency key of a page: one per (assignment or case, recipient, purpose), stable across restarts."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"psp-page:{scope}:{recipient}:{purpose}"))


def unique_candidates(primary: str, backups: list[str]) -> list[str]:
    """Primary then backups in rank order, each supporter once."""
    return list(dict.fromkeys([primary, *backups]))


def backoff(first_s: float, attempt: int) -> timedelta:
    """Delay before delivery round ``attempt + 1`` (``first_s`` doubling)."""
    return timedelta(seconds=first_s * (2 ** max(attempt - 1, 0)))
