"""The Assignment aggregate: one match of a case to its supporters, and everything that may happen to it.

It owns the state, the paging order (primary, each backup once, then the coordinator), who holds the case, the
contact deadline and the assignment's pages. A method refuses an illegal transition with a domain error
(``domain/errors.py``), else changes the state and records domain events (``domain/events.py``) on ``events``,
which the repository turns into rows when it saves. Pure Python: no database, no clock, no HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psp_common.events.status import OutreachStatus
from psp_notification.domain import errors
from psp_notification.domain.encounters import Actor, Encounter, NotYours, check_may_log
from psp_notification.domain.events import (
    CaseRef,
    EncounterLogged,
    EncounterSummary,
    Event,
    PageAnswered,
    PageQueued,
    PagesCancelled,
    StatusChanged,
)
from psp_notification.domain.handback import check_may_hand_back
from psp_notification.domain.model import (
    COORDINATOR,
    HELD_STATES,
    OPEN_STATES,
    AssignmentState,
    Page,
    PageState,
    Purpose,
    Response,
    page_key,
)

State, Status = AssignmentState, OutreachStatus
ANSWERABLE = frozenset({State.PAGING, State.ESCALATED})  # an acknowledgement is still taken (a late one too)
SETTLED = frozenset({State.CONTACTED, State.CLOSED})


@dataclass
class Assignment:
    """The aggregate root (a typed row of ``assignments``, with the assignment's pages)."""

    assignment_id: str
    case_id: str
    correlation_id: str
    facility: str
    unit: str
    urgency: str | None
    candidates: list[str]  # primary then backups, each once
    supported: list[str] | None  # pseudonyms of the people to support
    state: AssignmentState
    matched_at: datetime
    contact_deadline: datetime
    next_index: int = 1  # the next candidate to page
    acknowledged_by: str | None = None  # who holds the case
    acknowledged_at: datetime | None = None
    overdue_escalated: bool = False
    contacted_at: datetime | None = None  # contact recorded by the current holder (reset at a hand back)
    first_contacted_at: datetime | None = None  # the first contact ever (time to first contact)
    closed_at: datetime | None = None
    pages: list[Page] = field(default_factory=list, repr=False)
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def match(
        cls, assignment_id: str, case: CaseRef, candidates: Sequence[str], supported: Sequence[str], now: datetime,
        contact_within: timedelta,
    ) -> Assignment:  # fmt: skip
        """A new assignment paging its primary supporter (``candidates``: primary then backups, each once)."""
        if not candidates:
            raise ValueError("an assignment needs a primary supporter")
        a = cls(
            assignment_id, case.case_id, case.correlation_id, case.facility, case.unit, case.urgency,
            list(candidates), list(supported), State.PAGING, now, now + contact_within,
        )  # fmt: skip
        a._page(candidates[0], Purpose.PAGE, now, now)
        a._status(Status.ASSIGNED, now, supporter_ref=candidates[0], detail="primary supporter")
        return a

    @property
    def case(self) -> CaseRef:
        """What every status event of this assignment carries."""
        return CaseRef(self.case_id, self.correlation_id, self.facility, self.unit, self.urgency)

    # paging
    def page_next(self, now: datetime, reason: str) -> None:
        """Page the next backup not paged before; with none left, escalate to the coordinator."""
        paged = {p.recipient_ref for p in self.pages if p.purpose == Purpose.PAGE}
        i = self.next_index
        while i < len(self.candidates) and self.candidates[i] in paged:
            i += 1
        if i < len(self.candidates):
            self.next_index, self.state = i + 1, State.PAGING
            self._page(self.candidates[i], Purpose.PAGE, now, now)
            self._status(
                Status.ASSIGNED, now, supporter_ref=self.candidates[i], detail=f"backup supporter after {reason}"
            )
            return
        self.next_index, self.state = i, State.ESCALATED
        self._page(COORDINATOR, Purpose.ESCALATION, now, now)
        self._status(Status.ESCALATED, now, detail=f"all supporters exhausted ({reason}); coordinator paged")

    def notified(self, page_id: int, channel: str, at: datetime) -> None:
        """A channel accepted the supporter page ``page_id``."""
        page = self.supporter_page(page_id)
        self._status(Status.NOTIFIED, at, supporter_ref=page.recipient_ref, channel=channel)

    def expire(self, page_id: int, now: datetime) -> None:
        """The page's ack window passed unanswered: the next backup (or the coordinator) while still paging."""
        page = self.supporter_page(page_id)
        if page.response is not None or page.state != PageState.SENT:
            raise errors.AlreadyAnswered("page", "the page was answered or is not out")
        if page.ack_deadline is not None and now < page.ack_deadline:
            raise errors.NotDue("page", "the ack window is still open")
        self._answer(page, Response.EXPIRED, now)
        if self.state == State.PAGING:
            self.page_next(now, "no acknowledgement within the ack window")

    def undeliverable(self, page_id: int, at: datetime) -> None:
        """Every channel failed for the page: the next backup (or the coordinator) while still paging."""
        page = self.supporter_page(page_id)
        if page.response is None:
            self._answer(page, Response.EXPIRED, at)
        if self.state == State.PAGING:
            self.page_next(at, "an unreachable supporter")

    def escalate(self, now: datetime) -> None:
        """The contact deadline passed with nobody contacted: page the coordinator, once."""
        if self.state not in OPEN_STATES:
            raise self._settled("assignment_id", f"the assignment is {self.state}")
        if self.overdue_escalated:
            raise errors.AlreadyEscalated("assignment_id", "the coordinator was already paged for the contact deadline")
        if now < self.contact_deadline:
            raise errors.NotDue("assignment_id", "the contact deadline has not passed")
        self.overdue_escalated = True
        self._page(COORDINATOR, Purpose.CONTACT_OVERDUE, now, now)
        self._status(Status.ESCALATED, now, detail="contact deadline missed; coordinator paged")

    # answers
    def acknowledge(self, page_id: int, now: datetime) -> str:
        """The page's recipient takes the case, unless it is settled or someone else took it first."""
        page = self.supporter_page(page_id)
        ref = page.recipient_ref
        if self.acknowledged_by == ref:
            return "already acknowledged"
        if page.response == Response.DECLINED:
            raise errors.PageDeclined("token", "this page was declined")
        if self.state not in ANSWERABLE:
            raise (errors.CaseClosed if self.state == State.CLOSED else errors.AlreadyTaken)(
                "token", f"the case is already {self.state}"
            )
        self._answer(page, Response.ACKNOWLEDGED, now)
        self.state, self.acknowledged_by, self.acknowledged_at = State.ACKNOWLEDGED, ref, now
        self._cancel(Purpose.PAGE)
        self._status(Status.ACKNOWLEDGED, now, supporter_ref=ref, channel=page.channel)
        return "acknowledged"

    def decline(self, page_id: int, now: datetime) -> str:
        """The recipient declines (self-determination). Before acknowledging: a decline, and the next backup is
        paged if nobody else is being asked. After acknowledging ("I can't"): a hand back. A decline after
        someone else took the case changes nothing; after escalation the case stays escalated."""
        page = self.supporter_page(page_id)
        ref = page.recipient_ref
        if page.response == Response.DECLINED:
            return "already declined"
        if self.acknowledged_by not in (None, ref):
            return "not needed: another supporter has taken the case"
        if self.state in SETTLED:
            raise self._settled("token", f"the case is already {self.state}")
        if self.acknowledged_by == ref:
            self.hand_back(ref, now)
            return "handed back"
        self._answer(page, Response.DECLINED, now)
        self._status(
            Status.DECLINED, now, supporter_ref=ref, channel=page.channel, moves_case=self.state != State.ESCALATED
        )
        if self.state == State.PAGING and not any(p.awaits_answer for p in self.pages):
            self.page_next(now, "a decline")
        return "declined"

    # the holder
    def require_holder(self, supporter_ref: str) -> None:
        """Only the supporter who holds the case (acknowledged or contacted, not closed) may act on it."""
        if self.acknowledged_by != supporter_ref:
            raise errors.NotTheHolder("token", "another supporter has this case")
        if self.state not in HELD_STATES:
            raise self._settled("token", f"the case is {self.state}")

    def hand_back(self, supporter_ref: str, now: datetime) -> None:
        """ "I can't take this": nobody's again, pending pages and check-ins cancelled, the next backup paged
        (or the coordinator). The next holder starts afresh: their own contact, their own check-in reminders."""
        check_may_hand_back(supporter_ref, self.state, self.acknowledged_by)
        self.acknowledged_by = self.acknowledged_at = self.contacted_at = None
        self._cancel(Purpose.PAGE, Purpose.CHECKIN)
        self._status(Status.HANDED_BACK, now, supporter_ref=supporter_ref)
        self.page_next(now, "a hand back")

    def mark_contacted(self, now: datetime, checkin_hours: Sequence[float]) -> str:
        """Contact made: paging stops, check-in reminders are scheduled after it."""
        if self.contacted_at is not None:
            return "already contacted"
        if self.state not in OPEN_STATES:
            raise self._settled("assignment_id", f"the assignment is {self.state}")
        self._contacted(now, now, checkin_hours)
        return "contacted"

    def log_encounter(
        self, e: Encounter, actor: Actor, number: int, now: datetime, *, follow_up_at: datetime | None,
        checkin_hours: Sequence[float],
    ) -> None:  # fmt: skip
        """Encounter ``number``: the first marks the case contacted at its time; a tier-3/crisis referral pages the
        coordinator; a follow-up date (``follow_up_at``) schedules a reminder; counts only are published."""
        check_may_log(actor, self.state, self.acknowledged_by)
        e.validate(now, self.matched_at)
        self.events.append(EncounterLogged(self.assignment_id, self.case_id, number, e, now))
        if self.contacted_at is None:
            self._contacted(e.occurred_at, now, checkin_hours)
        if e.urgent_referral:
            self._page(COORDINATOR, Purpose.REFERRAL, now, now, f"-{number}")
        if follow_up_at is not None:
            self._page(self.acknowledged_by or COORDINATOR, Purpose.CHECKIN, follow_up_at, now, f"-follow-up-{number}")
        counts = EncounterSummary(number, len(e.referrals), follow_up_at is not None)
        self._status(Status.ENCOUNTER_LOGGED, now, detail=f"encounter {number}", encounter=counts, moves_case=False)

    def check_reader(self, actor: Actor) -> None:
        """The encounters are the holder's and the coordinators' to see (anyone else: like an unknown one)."""
        if not actor.coordinator and self.acknowledged_by not in actor.refs:
            raise NotYours("assignment_id", "no such assignment of yours")

    def close(self, now: datetime, detail: str | None = None) -> str:
        """The outreach is finished: every pending page (reminders included) is cancelled."""
        if self.state == State.CLOSED:
            return "already closed"
        self.state, self.closed_at = State.CLOSED, now
        self._cancel(*Purpose)
        self._status(Status.CLOSED, now, supporter_ref=self.acknowledged_by, detail=detail)
        return "closed"

    # helpers
    def supporter_page(self, page_id: int) -> Page:
        """This assignment's supporter page ``page_id`` (errors.NoAnswerNeeded for any other page)."""
        page = next((p for p in self.pages if p.id == page_id), None)
        if page is None or not page.asks_supporter:
            raise errors.NoAnswerNeeded("token", "this page asks for no answer")
        return page

    def _contacted(self, contact_at: datetime, now: datetime, checkin_hours: Sequence[float]) -> None:
        self.state, self.contacted_at = State.CONTACTED, contact_at
        self.first_contacted_at = self.first_contacted_at or contact_at
        self._cancel(Purpose.PAGE)
        who = self.acknowledged_by or COORDINATOR
        for hours in checkin_hours:
            self._page(who, Purpose.CHECKIN, contact_at + timedelta(hours=hours), now, f"-{hours:g}h")
        self._status(Status.CONTACTED, now, supporter_ref=self.acknowledged_by)

    def _settled(self, field_name: str, reason: str) -> errors.Conflict:
        if self.state == State.CLOSED:
            return errors.CaseClosed(field_name, reason)
        return (
            errors.NotHeld(field_name, reason) if self.state not in SETTLED else errors.AlreadyTaken(field_name, reason)
        )

    def _page(self, recipient: str, purpose: Purpose, due_at: datetime, now: datetime, suffix: str = "") -> None:
        """Queue a page, unless this (recipient, purpose) was paged before: nobody is paged twice."""
        key = page_key(self.assignment_id, recipient, purpose.value + suffix)
        if any(p.idempotency_key == key for p in self.pages):
            return
        page = Page(key, self.assignment_id, self.case_id, recipient, purpose, self.urgency, PageState.PENDING,
                    due_at, now)  # fmt: skip
        self.pages.append(page)
        self.events.append(PageQueued(page))

    def _cancel(self, *purposes: Purpose) -> None:
        for p in self.pages:
            if p.purpose in purposes and p.state == PageState.PENDING:
                p.state = PageState.CANCELLED
        self.events.append(PagesCancelled(self.assignment_id, frozenset(purposes)))

    def _answer(self, page: Page, response: Response, at: datetime) -> None:
        page.response, page.responded_at = response, at
        if page.id is not None:
            self.events.append(PageAnswered(page.id, response, at))

    def _status(
        self, status: OutreachStatus, at: datetime, *, supporter_ref: str | None = None, channel: str | None = None,
        detail: str | None = None, encounter: EncounterSummary | None = None, moves_case: bool = True,
    ) -> None:  # fmt: skip
        e = StatusChanged(
            self.case, status, at, self.assignment_id, supporter_ref, channel, detail, encounter, moves_case
        )
        self.events.append(e)


def still_wanted(page: Page, state: AssignmentState | None) -> bool:
    """Whether a due page should still be sent: a supporter page only while its assignment is being paged."""
    return not page.asks_supporter or state == State.PAGING
