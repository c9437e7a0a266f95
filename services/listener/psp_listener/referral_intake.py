"""Referrals -> ReferralObserved: who needs support and who referred them, pseudonymized; nothing else kept.

A staff member's own token (``staff_id`` claim) is the person of a self-referral and the referrer of a colleague
or manager referral; a staff member may not refer as someone else. Systems (``intake``) name everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psp_common.events.referral import CHOSEN_URGENCY, ReferralKind, ReferralObserved
from psp_common.events.vocab import Involvement, StaffRef
from psp_common.pseudonym import Pseudonymizer
from psp_listener.adapters.common import Person, correlation_id, staff_refs
from psp_listener.adapters.errors import invalid
from psp_listener.adapters.referrals import ReferralV1, ReferredStaff

TITLE = "ReferralV1"
NO_UNIT = "unspecified"
THIRD_PARTY_NAMED = (ReferralKind.COLLEAGUE, ReferralKind.MANAGER)


@dataclass(frozen=True)
class Caller:
    """Who submits: their own staff id (from their token), and whether they may name others (systems,
    coordinators taking a referral by phone) or only act as themselves (any other staff member)."""

    staff_id: str | None = None
    as_themself_only: bool = False


def _resolve(r: ReferralV1, caller: Caller) -> tuple[ReferredStaff, ReferredStaff | None]:
    """(person, referrer), filled in from the caller's own staff id where the body leaves them out; checked."""
    issues: list[tuple[tuple[str | int, ...], str]] = []
    person, referrer, own = r.person, r.referrer, caller.staff_id
    if own is not None and r.kind is ReferralKind.SELF:
        if caller.as_themself_only and person is not None and person.staff_id != own:
            issues.append((("person",), "a self-referral is for yourself: leave person out or give your own id"))
        person = person or ReferredStaff(staff_id=own)
    if own is not None and r.kind in THIRD_PARTY_NAMED:
        if caller.as_themself_only and referrer is not None and referrer.staff_id != own:
            issues.append((("referrer",), "you refer as yourself: leave referrer out or give your own id"))
        referrer = referrer or ReferredStaff(staff_id=own)
    if person is None:
        issues.append((("person",), "name the person who needs support"))
    if r.kind is ReferralKind.SELF and r.referrer is not None:
        issues.append((("referrer",), "a self-referral names no referrer (the person is the referrer)"))
    if r.kind in THIRD_PARTY_NAMED and referrer is None:
        issues.append((("referrer",), "a colleague or manager referral names its referrer"))
    if r.kind is ReferralKind.EAP and not r.person_agreed:
        issues.append((("person_agreed",), "an EAP referral needs the person's agreement"))
    if person is not None and referrer is not None and person.staff_id == referrer.staff_id:
        issues.append((("referrer",), "the referrer is the person: use kind 'self'"))
    if issues or person is None:
        raise invalid(TITLE, issues)
    return person, referrer


def _ref(pseudo: Pseudonymizer, staff: ReferredStaff, involvement: Involvement) -> StaffRef:
    return staff_refs([Person(staff.staff_id, staff.role, involvement)], pseudo)[0]


def to_event(r: ReferralV1, pseudo: Pseudonymizer, caller: Caller, received_at: datetime) -> ReferralObserved:
    """Validate who is who and map the referral (no free text exists on it to drop)."""
    person, referrer = _resolve(r, caller)
    ref = pseudo.reference("referral", f"{r.source_system}:{r.referral_id}")
    return ReferralObserved(
        occurred_at=r.referred_at or received_at,
        correlation_id=correlation_id(ref, 1),
        referral_ref=ref,
        kind=r.kind,
        facility=r.facility,
        unit=r.unit or NO_UNIT,
        facility_tz=r.facility_tz,
        urgency=CHOSEN_URGENCY[r.urgency],
        person=_ref(pseudo, person, Involvement.AFFECTED),
        referrer=_ref(pseudo, referrer, Involvement.WITNESS) if referrer else None,
        person_agreed=r.person_agreed,
    )
