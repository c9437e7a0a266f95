"""HTTP schemas of the notification API."""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from psp_common.stats import NULL_MEANS
from psp_notification.adapters.encounter_schemas import MonthStats
from psp_notification.domain.addresses import url_problem
from psp_notification.domain.model import Page
from psp_notification.settings import ChannelKind

EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


class ChannelIn(BaseModel):
    """One channel of a person, checked by kind (the reason never echoes the address)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: ChannelKind = Field(description="webhook, email, sms or console.")
    address: str = Field("", max_length=512, description="https URL, e-mail, E.164 phone; ignored for console.")

    @model_validator(mode="after")
    def _address_fits_kind(self) -> ChannelIn:
        if self.kind == "email" and not EMAIL.match(self.address):
            raise ValueError("address must be an e-mail address for kind 'email'")
        if self.kind == "sms" and not PHONE.match(self.address):
            raise ValueError("address must be an E.164 phone number (+ and 7-15 digits) for kind 'sms'")
        if self.kind == "webhook":
            reason = url_problem(self.address, https_only=False)  # production also needs https: checked by the API
            if reason is not None:
                raise ValueError(f"{reason} for kind 'webhook'")
        return self


class ContactIn(BaseModel):
    """A person's channels in preference order."""

    model_config = ConfigDict(extra="forbid")

    channels: list[ChannelIn] = Field(min_length=1, max_length=10, description="Channels, preferred first.")


class ContactOut(BaseModel):
    """A stored contact (coordinators only; never published)."""

    staff_ref: str = Field(description="Pseudonym the contact is stored under.")
    channels: list[dict[str, str]] = Field(description="Channels in preference order.")
    updated_at: datetime | None = Field(None, description="Last change.")


class ActionResult(BaseModel):
    """Outcome of an acknowledge/decline/contacted/close action."""

    result: str = Field(description="What happened, e.g. 'acknowledged', 'already acknowledged'.")


class PageAnswer(ActionResult):
    """Outcome of an answer through a page link."""

    case_page: str | None = Field(
        None,
        description="After an acknowledgement: the path of the supporter's case page (who the colleague is, "
        "deadlines, guide); a private link, valid until the contact deadline.",
    )


class Delivery(BaseModel):
    """One page delivery.

    ``state``: pending (due later or retrying), sending (claimed, being delivered), sent (a channel accepted
    it), failed (every channel failed), cancelled (no longer needed). ``response`` (supporter pages):
    acknowledged, declined or expired (no answer within the ack window).
    """

    id: int = Field(description="Row id.")
    idempotency_key: str = Field(description="Key passed to the channel; receivers dedupe on it.")
    assignment_id: str | None = Field(description="Assignment, if any.")
    case_id: str = Field(description="Case.")
    supporter_ref: str = Field(description="Pseudonym of the recipient, or 'coordinator'.")
    purpose: str = Field(description="page, escalation, unmatched, contact_overdue or checkin.")
    channel: str | None = Field(description="Channel kind that delivered it.")
    state: str = Field(description="pending, sending, sent, failed or cancelled.")
    response: str | None = Field(description="acknowledged, declined or expired.")
    attempts: int = Field(description="Delivery rounds so far.")
    created_at: datetime = Field(description="When the page was created.")
    due_at: datetime = Field(description="When it is (was) due.")
    sent_at: datetime | None = Field(description="When a channel accepted it.")
    ack_deadline: datetime | None = Field(description="Acknowledge by, for supporter pages.")
    responded_at: datetime | None = Field(description="When it was answered or expired.")

    @classmethod
    def from_page(cls, page: Page) -> Delivery:
        """Map a page row."""
        values = {k: getattr(page, k) for k in cls.model_fields if hasattr(page, k)}
        plain = {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}
        return cls(supporter_ref=page.recipient_ref, **plain)


class Deliveries(BaseModel):
    """Page deliveries, newest first."""

    items: list[Delivery] = Field(description="Deliveries.")


class StatusChange(BaseModel):
    """One lifecycle change of a case."""

    status: str = Field(description="requested, assigned, notified, acknowledged, declined, escalated, ...")
    assignment_id: str | None = Field(None, description="Assignment concerned.")
    supporter_ref: str | None = Field(None, description="Supporter pseudonym concerned.")
    channel: str | None = Field(None, description="Channel used.")
    detail: str | None = Field(None, description="Short non-identifying explanation.")
    at: datetime = Field(description="When.")


class CaseStatus(BaseModel):
    """A case as the coordinator sees it."""

    case_id: str = Field(description="Case id.")
    facility: str = Field(description="Facility code.")
    unit: str = Field(description="Unit code.")
    urgency: str | None = Field(None, description="Urgency.")
    status: str = Field(description="Current outreach status.")
    history: list[StatusChange] = Field(description="Every lifecycle change, oldest first.")


class MyAssignment(BaseModel):
    """An assignment the calling supporter acknowledged (no other supporter's pseudonym)."""

    assignment_id: str = Field(description="Assignment id.")
    case_id: str = Field(description="Case id.")
    facility: str = Field(description="Facility code.")
    unit: str = Field(description="Unit code.")
    urgency: str | None = Field(None, description="Urgency.")
    state: str = Field(description="paging, acknowledged, escalated, contacted or closed.")
    acknowledged_at: datetime | None = Field(None, description="When the caller took it.")
    contact_deadline: datetime = Field(description="Contact expected by.")
    contacted_at: datetime | None = Field(None, description="When contact was recorded.")
    closed_at: datetime | None = Field(None, description="When it was closed.")


class MyPage(BaseModel):
    """A page sent to the calling supporter."""

    assignment_id: str | None = Field(None, description="Assignment, if any.")
    case_id: str = Field(description="Case.")
    purpose: str = Field(description="page or checkin.")
    state: str = Field(description="pending, sending, sent, failed or cancelled.")
    response: str | None = Field(None, description="acknowledged, declined or expired.")
    sent_at: datetime | None = Field(None, description="When a channel accepted it.")
    ack_deadline: datetime | None = Field(None, description="Acknowledge by.")


class MyWork(BaseModel):
    """The calling supporter's own assignments and pages."""

    assignments: list[MyAssignment] = Field(description="Assignments the caller acknowledged, newest first.")
    pages: list[MyPage] = Field(description="Pages addressed to the caller, newest first.")


class TimeToContact(BaseModel):
    """Minutes from match to first recorded contact."""

    count: int | None = Field(description="Cases with a recorded contact (null: suppressed).")
    percentiles: dict[str, float | None] = Field(
        description="Nearest-rank percentiles, e.g. p50, p90; null when the count is null or 0."
    )


class Stats(BaseModel):
    """Aggregates for evaluation: counts only, no identifiers; small cells suppressed."""

    min_cell: int = Field(description=f"PSP_STATS_MIN_CELL in force. {NULL_MEANS}")
    cases: int | None = Field(description="Cases created in the period (null: suppressed).")
    purged: int | None = Field(description="Of which identifying data was purged by retention (null: suppressed).")
    by_urgency: dict[str, int | None] = Field(description=f"Cases per urgency. {NULL_MEANS}")
    by_trigger: dict[str, int | None] = Field(description=f"Cases per trigger (a case may have several). {NULL_MEANS}")
    by_status: dict[str, int | None] = Field(description=f"Cases per current outreach status. {NULL_MEANS}")
    by_mode: dict[str, int | None] = Field(description=f"Cases per mode (individual or group). {NULL_MEANS}")
    by_offer: dict[str, int | None] = Field(
        default_factory=dict,
        description="Referral offers (a supporter reaching out on a colleague's, manager's or EAP's word) by the "
        f"person's answer: offered (none yet), accepted, declined (closed quietly). {NULL_MEANS}",
    )
    time_to_contact_minutes: TimeToContact = Field(description="Time to contact.")
    monthly: list[MonthStats] = Field(
        default_factory=list,
        description="Per UTC calendar month, oldest first: encounters (contacts, outcomes, hours, people reached, "
        "referrals by kind, follow-ups, debriefs) by when they happened, and first contacts by when they were made "
        "(since/until apply to those times). Also as CSV: GET /v1/stats.csv.",
    )
