"""Domain events: what an aggregate decided, recorded on it and turned into rows when it is saved (pure Python).

``StatusChanged`` becomes an ``OutreachStatusChanged`` outbox row on psp.outreach-status.v1, a status-history row
and the case's status; ``PageQueued`` a pending page row (skipped when its idempotency key exists: nobody is
paged twice); ``PagesCancelled`` cancels pages not yet handed to a channel; ``PageAnswered`` records a page's
answer; ``EncounterLogged`` stores an encounter row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psp_common.events.status import OutreachStatus, UnknownColleagues
from psp_notification.domain.encounters import Encounter
from psp_notification.domain.model import Page, Purpose, Response


@dataclass(frozen=True)
class CaseRef:
    """What every status event of a case carries (no patient data: facility, unit, urgency)."""

    case_id: str
    correlation_id: str
    facility: str
    unit: str
    urgency: str | None


@dataclass(frozen=True)
class EncounterSummary:
    """Counts only: the encounter's number, how many referrals, whether a follow-up was asked for."""

    number: int
    referrals: int
    follow_up: bool


@dataclass(frozen=True)
class StatusChanged:
    """A lifecycle change, published pseudonymized; ``moves_case``: the case's status becomes ``status``."""

    case: CaseRef
    status: OutreachStatus
    at: datetime
    assignment_id: str | None = None
    supporter_ref: str | None = None
    channel: str | None = None
    detail: str | None = None
    encounter: EncounterSummary | None = None
    moves_case: bool = True
    unknown: UnknownColleagues | None = None  # 'colleague_unknown' only: the incident, the people not in the directory


@dataclass(frozen=True)
class PageQueued:
    """A page to store as pending (the dispatcher delivers it when due)."""

    page: Page


@dataclass(frozen=True)
class PagesCancelled:
    """The assignment's pages of these purposes not yet handed to a channel are no longer needed."""

    assignment_id: str
    purposes: frozenset[Purpose]


@dataclass(frozen=True)
class PageAnswered:
    """A supporter page was answered (acknowledged, declined) or its answer ran out (expired, undeliverable)."""

    page_id: int
    response: Response
    at: datetime


@dataclass(frozen=True)
class EncounterLogged:
    """An encounter to store with its number on the assignment."""

    assignment_id: str
    case_id: str
    number: int
    encounter: Encounter
    at: datetime


Event = StatusChanged | PageQueued | PagesCancelled | PageAnswered | EncounterLogged
