"""The Assignment aggregate's state machine, pure (no database, no clock, no HTTP): every transition, every refusal
as its domain error, and the domain events each records (which the repository turns into rows)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from psp_common.events.status import OutreachStatus as S
from psp_notification.domain.assignment import Assignment, still_wanted
from psp_notification.domain.encounters import (
    Actor,
    DurationBand,
    Encounter,
    InvalidEncounter,
    Kind,
    Mode,
    NotLoggable,
    NotYours,
    Outcome,
    Referral,
)
from psp_notification.domain.errors import (
    AlreadyAnswered,
    AlreadyEscalated,
    AlreadyTaken,
    CaseClosed,
    NoAnswerNeeded,
    NotDue,
    NotHeld,
    NotTheHolder,
    PageDeclined,
)
from psp_notification.domain.events import (
    CaseRef,
    EncounterLogged,
    PageAnswered,
    PageQueued,
    PagesCancelled,
    StatusChanged,
)
from psp_notification.domain.model import COORDINATOR, AssignmentState, Page, PageState, Purpose, Response
from tests.clock import TEST_NOW as T0

CASE = CaseRef("c-1", "corr-1", "GEN", "ICU", "immediate")
CHECKINS = (24.0, 72.0)
ANN, BEN, CAT = "ps_ann", "ps_ben", "ps_cat"


def new(*candidates: str) -> Assignment:
    """A stored assignment (events written, pages given ids) paging the first candidate."""
    return stored(Assignment.match("a-1", CASE, candidates or (ANN, BEN), ("ps_colleague",), T0, timedelta(hours=12)))


def stored(a: Assignment) -> Assignment:
    """What saving does to the aggregate: queued pages get ids, the events are taken."""
    for p in a.pages:
        if p.id is None:
            p.id = max((q.id or 0 for q in a.pages), default=0) + 1
    a.events.clear()
    return a


def page_to(a: Assignment, ref: str, purpose: Purpose = Purpose.PAGE) -> Page:
    return next(p for p in a.pages if p.recipient_ref == ref and p.purpose == purpose)


def sent(a: Assignment, ref: str, minutes: int = 0) -> int:
    """The supporter's page went out ``minutes`` after T0 (ack window 30 min); its id."""
    p = page_to(a, ref)
    p.state, p.sent_at = PageState.SENT, T0 + timedelta(minutes=minutes)
    p.ack_deadline = p.sent_at + timedelta(minutes=30)
    return int(p.id or 0)


def statuses(a: Assignment) -> list[tuple[S, str | None]]:
    return [(e.status, e.supporter_ref) for e in a.events if isinstance(e, StatusChanged)]


def queued(a: Assignment) -> list[tuple[str, Purpose]]:
    return [(e.page.recipient_ref, e.page.purpose) for e in a.events if isinstance(e, PageQueued)]


def taken(*candidates: str) -> tuple[Assignment, int]:
    a = new(*candidates)
    pid = sent(a, a.candidates[0])
    a.acknowledge(pid, T0 + timedelta(minutes=5))
    return stored(a), pid


def one(**over: object) -> Encounter:
    values: dict[str, object] = {
        "occurred_at": T0 + timedelta(hours=1),
        "mode": Mode.PHONE,
        "duration": DurationBand.FROM_15_TO_30M,
        "kind": Kind.ONE_TO_ONE,
        "outcome": Outcome.SUPPORT_GIVEN,
    }
    return Encounter(**{**values, **over})  # type: ignore[arg-type]


def test_a_match_pages_the_primary_and_publishes_assigned() -> None:
    a = Assignment.match("a-1", CASE, (ANN, BEN), ("ps_colleague",), T0, timedelta(hours=12))
    assert a.state is AssignmentState.PAGING and a.contact_deadline == T0 + timedelta(hours=12)
    assert queued(a) == [(ANN, Purpose.PAGE)] and statuses(a) == [(S.ASSIGNED, ANN)]
    [status] = [e for e in a.events if isinstance(e, StatusChanged)]
    assert status.detail == "primary supporter" and status.case == CASE and status.assignment_id == "a-1"
    with pytest.raises(ValueError, match="primary"):
        Assignment.match("a-2", CASE, (), (), T0, timedelta(hours=1))


def test_paging_order_is_primary_then_each_backup_once_then_the_coordinator() -> None:
    a = new(ANN, BEN, CAT)
    a.expire(sent(a, ANN), T0 + timedelta(minutes=31))
    assert queued(a) == [(BEN, Purpose.PAGE)] and statuses(a) == [(S.ASSIGNED, BEN)]
    assert page_to(a, ANN).response is Response.EXPIRED
    assert any(isinstance(e, PageAnswered) and e.response is Response.EXPIRED for e in a.events)
    stored(a)
    a.undeliverable(sent(a, BEN), T0 + timedelta(minutes=40))
    assert queued(a) == [(CAT, Purpose.PAGE)]
    stored(a)
    a.decline(sent(a, CAT), T0 + timedelta(minutes=45))
    assert queued(a) == [(COORDINATOR, Purpose.ESCALATION)]
    assert [s for s, _ in statuses(a)] == [S.DECLINED, S.ESCALATED] and a.state is AssignmentState.ESCALATED
    stored(a)
    a.page_next(T0 + timedelta(hours=1), "again")  # nobody left, the coordinator was paged: nobody paged twice
    assert queued(a) == [] and a.state is AssignmentState.ESCALATED


def test_page_next_skips_a_backup_paged_before() -> None:
    a = new(ANN, BEN, CAT)
    a.pages.append(Page("k", "a-1", "c-1", BEN, Purpose.PAGE, None, PageState.CANCELLED, T0, T0, id=99))
    a.page_next(T0, "a test")
    assert queued(a) == [(CAT, Purpose.PAGE)] and a.next_index == 3


def test_acknowledge_takes_the_case_stops_paging_and_records_events() -> None:
    a = new()
    pid = sent(a, ANN)
    page_to(a, ANN).channel = "console"
    assert a.acknowledge(pid, T0 + timedelta(minutes=5)) == "acknowledged"
    assert (a.state, a.acknowledged_by, a.acknowledged_at) == (
        AssignmentState.ACKNOWLEDGED,
        ANN,
        T0 + timedelta(minutes=5),
    )
    assert [type(e) for e in a.events] == [PageAnswered, PagesCancelled, StatusChanged]
    assert next(e for e in a.events if isinstance(e, PagesCancelled)).purposes == {Purpose.PAGE}
    [status] = [e for e in a.events if isinstance(e, StatusChanged)]
    assert (status.status, status.supporter_ref, status.channel) == (S.ACKNOWLEDGED, ANN, "console")
    stored(a)
    assert a.acknowledge(pid, T0 + timedelta(minutes=6)) == "already acknowledged" and a.events == []


def test_acknowledge_refusals() -> None:
    a, _ = taken(ANN, BEN)
    a.pages.append(Page("k2", "a-1", "c-1", BEN, Purpose.PAGE, None, PageState.SENT, T0, T0, id=50))
    with pytest.raises(AlreadyTaken, match="already acknowledged"):
        a.acknowledge(50, T0)
    a.mark_contacted(T0 + timedelta(minutes=10), CHECKINS)
    with pytest.raises(AlreadyTaken, match="already contacted"):
        a.acknowledge(50, T0)
    a.close(T0 + timedelta(hours=1))
    with pytest.raises(CaseClosed):
        a.acknowledge(50, T0)
    b = new()
    pid = sent(b, ANN)
    b.decline(pid, T0)
    with pytest.raises(PageDeclined):
        b.acknowledge(pid, T0)
    with pytest.raises(NoAnswerNeeded):
        b.acknowledge(12345, T0)  # not a page of this assignment
    c = new(ANN)
    c.expire(sent(c, ANN), T0 + timedelta(minutes=31))
    stored(c)
    with pytest.raises(NoAnswerNeeded):
        c.acknowledge(int(page_to(c, COORDINATOR, Purpose.ESCALATION).id or 0), T0)  # a coordinator page


def test_a_late_acknowledgement_after_escalation_is_taken() -> None:
    a = new(ANN)
    pid = sent(a, ANN)
    a.expire(pid, T0 + timedelta(minutes=31))
    assert a.state is AssignmentState.ESCALATED
    stored(a)
    page_to(a, ANN).response = None  # the expired page's links still work until they expire
    assert a.acknowledge(pid, T0 + timedelta(minutes=40)) == "acknowledged"
    assert a.state is AssignmentState.ACKNOWLEDGED


def test_decline_before_acknowledging_pages_the_next_backup_at_once() -> None:
    a = new(ANN, BEN)
    pid = sent(a, ANN)
    assert a.decline(pid, T0 + timedelta(minutes=2)) == "declined"
    assert statuses(a) == [(S.DECLINED, ANN), (S.ASSIGNED, BEN)] and queued(a) == [(BEN, Purpose.PAGE)]
    assert page_to(a, ANN).response is Response.DECLINED
    stored(a)
    assert a.decline(pid, T0) == "already declined" and a.events == []


def test_a_decline_while_another_supporter_is_still_being_asked_pages_nobody_new() -> None:
    a = new(ANN, BEN, CAT)
    first = sent(a, ANN)
    a.expire(first, T0 + timedelta(minutes=31))  # BEN paged
    stored(a)
    page_to(a, ANN).response = None  # ANN's decline link still works
    sent(a, BEN, minutes=31)
    assert a.decline(first, T0 + timedelta(minutes=32)) == "declined"
    assert queued(a) == [] and statuses(a) == [(S.DECLINED, ANN)]


def test_a_late_decline_changes_nothing_or_keeps_the_case_escalated() -> None:
    a = new(ANN, BEN)
    first = sent(a, ANN)
    a.expire(first, T0 + timedelta(minutes=31))
    stored(a)
    a.acknowledge(sent(a, BEN, minutes=31), T0 + timedelta(minutes=35))
    stored(a)
    page_to(a, ANN).response = None
    assert a.decline(first, T0 + timedelta(minutes=40)) == "not needed: another supporter has taken the case"
    assert a.events == []
    b = new(ANN)
    pid = sent(b, ANN)
    b.expire(pid, T0 + timedelta(minutes=31))
    stored(b)
    page_to(b, ANN).response = None
    assert b.decline(pid, T0 + timedelta(minutes=40)) == "declined"
    [status] = [e for e in b.events if isinstance(e, StatusChanged)]
    assert status.status is S.DECLINED and not status.moves_case and b.state is AssignmentState.ESCALATED


def test_decline_refused_once_contacted_or_closed() -> None:
    a, pid = taken()
    a.mark_contacted(T0 + timedelta(minutes=10), CHECKINS)
    with pytest.raises(AlreadyTaken):
        a.decline(pid, T0 + timedelta(minutes=11))
    a.close(T0 + timedelta(hours=1))
    with pytest.raises(CaseClosed):
        a.decline(pid, T0 + timedelta(hours=2))


def test_i_cant_after_acknowledging_is_a_hand_back_not_a_decline() -> None:
    a, pid = taken(ANN, BEN)
    assert a.decline(pid, T0 + timedelta(minutes=10)) == "handed back"
    assert statuses(a) == [(S.HANDED_BACK, ANN), (S.ASSIGNED, BEN)]
    assert S.DECLINED not in [s for s, _ in statuses(a)]
    assert a.acknowledged_by is None and page_to(a, ANN).response is Response.ACKNOWLEDGED


def test_hand_back_cancels_reminders_and_the_next_holder_starts_afresh() -> None:
    a, _ = taken(ANN, BEN)
    contact = T0 + timedelta(minutes=20)
    a.mark_contacted(contact, CHECKINS)
    stored(a)
    a.hand_back(ANN, T0 + timedelta(hours=1))
    assert a.contacted_at is None and a.first_contacted_at == contact
    assert [p.state for p in a.pages if p.purpose == Purpose.CHECKIN] == [PageState.CANCELLED] * 2
    cancelled = [e for e in a.events if isinstance(e, PagesCancelled)]
    assert cancelled[0].purposes == {Purpose.PAGE, Purpose.CHECKIN}
    assert statuses(a) == [(S.HANDED_BACK, ANN), (S.ASSIGNED, BEN)] and a.state is AssignmentState.PAGING
    stored(a)
    a.acknowledge(sent(a, BEN, minutes=60), T0 + timedelta(minutes=65))
    stored(a)
    later = T0 + timedelta(hours=2)
    assert a.mark_contacted(later, CHECKINS) == "contacted"  # not "already contacted": BEN's own contact
    assert queued(a) == [(BEN, Purpose.CHECKIN), (BEN, Purpose.CHECKIN)]
    assert [e.page.due_at for e in a.events if isinstance(e, PageQueued)] == [
        later + timedelta(hours=24),
        later + timedelta(hours=72),
    ]
    assert a.contacted_at == later and a.first_contacted_at == contact


def test_after_a_hand_back_the_next_holders_first_encounter_marks_contact_again() -> None:
    a, _ = taken(ANN, BEN)
    a.log_encounter(
        one(), Actor(frozenset({ANN})), 1, T0 + timedelta(hours=2), follow_up_at=None, checkin_hours=CHECKINS
    )
    stored(a)
    a.hand_back(ANN, T0 + timedelta(hours=3))
    stored(a)
    a.acknowledge(sent(a, BEN, minutes=180), T0 + timedelta(hours=3, minutes=5))
    stored(a)
    e = one(occurred_at=T0 + timedelta(hours=4))
    a.log_encounter(e, Actor(frozenset({BEN})), 2, T0 + timedelta(hours=5), follow_up_at=None, checkin_hours=CHECKINS)
    assert (S.CONTACTED, BEN) in statuses(a) and a.contacted_at == e.occurred_at
    assert queued(a) == [(BEN, Purpose.CHECKIN), (BEN, Purpose.CHECKIN)]


def test_hand_back_refusals() -> None:
    a, _ = taken(ANN, BEN)
    with pytest.raises(NotTheHolder):
        a.hand_back(BEN, T0)
    b = new()
    with pytest.raises(NotTheHolder):
        b.hand_back(ANN, T0)  # paging: nobody holds it
    b.acknowledged_by, b.state = ANN, AssignmentState.ESCALATED
    with pytest.raises(NotHeld):
        b.hand_back(ANN, T0)
    a.close(T0 + timedelta(hours=1))
    with pytest.raises(NotHeld, match="closed"):
        a.hand_back(ANN, T0 + timedelta(hours=2))


def test_require_holder() -> None:
    a, _ = taken(ANN, BEN)
    a.require_holder(ANN)
    with pytest.raises(NotTheHolder):
        a.require_holder(BEN)
    a.close(T0 + timedelta(hours=1))
    with pytest.raises(CaseClosed):
        a.require_holder(ANN)
    b = new()
    b.acknowledged_by, b.state = ANN, AssignmentState.ESCALATED
    with pytest.raises(NotHeld):
        b.require_holder(ANN)


def test_expire_refusals() -> None:
    a = new()
    pid = sent(a, ANN)
    with pytest.raises(NotDue):
        a.expire(pid, T0 + timedelta(minutes=29))
    a.acknowledge(pid, T0 + timedelta(minutes=5))
    with pytest.raises(AlreadyAnswered):
        a.expire(pid, T0 + timedelta(minutes=31))
    b = new()
    with pytest.raises(AlreadyAnswered):  # still pending: not out yet
        b.expire(int(page_to(b, ANN).id or 0), T0 + timedelta(hours=1))


def test_the_missed_contact_deadline_pages_the_coordinator_once() -> None:
    a, _ = taken()
    with pytest.raises(NotDue):
        a.escalate(T0 + timedelta(hours=11))
    a.escalate(T0 + timedelta(hours=12))
    assert queued(a) == [(COORDINATOR, Purpose.CONTACT_OVERDUE)] and statuses(a) == [(S.ESCALATED, None)]
    assert a.overdue_escalated and a.state is AssignmentState.ACKNOWLEDGED  # the supporter still holds it
    with pytest.raises(AlreadyEscalated):
        a.escalate(T0 + timedelta(hours=13))
    b, _ = taken()
    b.mark_contacted(T0 + timedelta(hours=1), CHECKINS)
    with pytest.raises(AlreadyTaken):
        b.escalate(T0 + timedelta(hours=12))
    b.close(T0 + timedelta(hours=13))
    with pytest.raises(CaseClosed):
        b.escalate(T0 + timedelta(hours=14))


def test_contacted_schedules_check_ins_for_the_holder_or_the_coordinator() -> None:
    a, _ = taken()
    at = T0 + timedelta(minutes=20)
    assert a.mark_contacted(at, CHECKINS) == "contacted"
    assert a.state is AssignmentState.CONTACTED and a.contacted_at == at == a.first_contacted_at
    assert queued(a) == [(ANN, Purpose.CHECKIN)] * 2 and statuses(a) == [(S.CONTACTED, ANN)]
    stored(a)
    assert a.mark_contacted(at, CHECKINS) == "already contacted" and a.events == []
    b = new()  # a coordinator records contact while paging: the reminders are theirs
    b.mark_contacted(at, CHECKINS)
    assert queued(b) == [(COORDINATOR, Purpose.CHECKIN)] * 2
    c = new()
    c.close(at)
    with pytest.raises(CaseClosed):
        c.mark_contacted(at, CHECKINS)


def test_an_encounter_marks_contact_pages_referrals_and_publishes_counts_only() -> None:
    a, _ = taken()
    e = one(referrals=frozenset({Referral.CRISIS, Referral.EAP}), follow_up_on=(T0 + timedelta(days=3)).date())
    follow_up = T0 + timedelta(days=3)
    a.log_encounter(e, Actor(frozenset({ANN})), 1, T0 + timedelta(hours=2), follow_up_at=follow_up, checkin_hours=())
    [logged] = [x for x in a.events if isinstance(x, EncounterLogged)]
    assert (logged.number, logged.encounter) == (1, e) and a.contacted_at == e.occurred_at
    assert queued(a) == [(COORDINATOR, Purpose.REFERRAL), (ANN, Purpose.CHECKIN)]
    last = [x for x in a.events if isinstance(x, StatusChanged)][-1]
    assert last.status is S.ENCOUNTER_LOGGED and not last.moves_case and last.supporter_ref is None
    assert last.encounter is not None and (last.encounter.referrals, last.encounter.follow_up) == (2, True)
    assert last.detail == "encounter 1"


def test_encounter_refusals() -> None:
    a = new()
    with pytest.raises(NotLoggable):
        a.log_encounter(one(), Actor(frozenset(), coordinator=True), 1, T0 + timedelta(hours=2),
                        follow_up_at=None, checkin_hours=CHECKINS)  # fmt: skip
    b, _ = taken()
    with pytest.raises(NotYours):
        b.log_encounter(one(), Actor(frozenset({BEN})), 1, T0 + timedelta(hours=2), follow_up_at=None, checkin_hours=())
    with pytest.raises(InvalidEncounter):
        b.log_encounter(one(occurred_at=T0 + timedelta(hours=3)), Actor(frozenset({ANN})), 1, T0 + timedelta(hours=2),
                        follow_up_at=None, checkin_hours=())  # fmt: skip
    assert b.events == []
    b.check_reader(Actor(frozenset({ANN})))
    b.check_reader(Actor(frozenset(), coordinator=True))
    with pytest.raises(NotYours):
        b.check_reader(Actor(frozenset({BEN})))


def test_close_cancels_everything_once() -> None:
    a, _ = taken()
    a.mark_contacted(T0 + timedelta(minutes=20), CHECKINS)
    stored(a)
    assert a.close(T0 + timedelta(hours=1)) == "closed"
    assert a.state is AssignmentState.CLOSED and a.closed_at == T0 + timedelta(hours=1)
    [cancelled] = [e for e in a.events if isinstance(e, PagesCancelled)]
    assert cancelled.purposes == set(Purpose) and statuses(a) == [(S.CLOSED, ANN)]
    assert all(p.state is not PageState.PENDING for p in a.pages)
    stored(a)
    assert a.close(T0 + timedelta(hours=2)) == "already closed" and a.events == []


def test_notified_and_which_pages_are_still_wanted() -> None:
    a = new()
    pid = sent(a, ANN)
    a.notified(pid, "console", T0)
    [status] = a.events
    assert isinstance(status, StatusChanged) and (status.status, status.channel) == (S.NOTIFIED, "console")
    page = page_to(a, ANN)
    assert still_wanted(page, AssignmentState.PAGING)
    assert not still_wanted(page, AssignmentState.ACKNOWLEDGED) and not still_wanted(page, None)
    reminder = Page("k", "a-1", "c-1", ANN, Purpose.CHECKIN, None, PageState.PENDING, T0, T0)
    assert still_wanted(reminder, AssignmentState.CLOSED)
