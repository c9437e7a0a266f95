"""The supporter's case page: after acknowledging, who the colleague is, the deadlines and the facility's guide
(its script for the kind of contact: an incident's outreach, a self-referral, a referral offer, the referrer).

Reached with the ``view`` token issued at acknowledgement (stored hashed, bound to the page and its recipient,
reusable until it expires). Only the supporter who holds the case sees the colleague; anyone else with a view
token learns only that another supporter has it. Each person revealed is written to the audit log (their
pseudonym and the viewer, never the name or the token). Nothing clinical: urgency and deadlines only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert

from psp_common.db import UnitOfWork
from psp_notification.adapters.assignments import AssignmentRepository
from psp_notification.adapters.directory import DirectoryRepository
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.offers import approach_of_case, offer_of
from psp_notification.adapters.orm import audit_log
from psp_notification.adapters.repository import Repository
from psp_notification.answers import resolve
from psp_notification.domain import tokens
from psp_notification.domain.approaches import Approach
from psp_notification.domain.directory import DirectoryEntry
from psp_notification.domain.errors import NoAnswerNeeded
from psp_notification.domain.guides import FacilityGuide, guide_for
from psp_notification.domain.model import HELD_STATES, AssignmentState
from psp_notification.domain.offers import Offer
from psp_notification.domain.tokens import Action
from psp_notification.settings import NotificationSettings

REVEAL = "REVEAL"  # audit action of a reveal
RESOURCE = "/v1/pages/{token}/case staff_ref="  # the token is never written; the revealed pseudonym is


@dataclass(frozen=True)
class CaseView:
    """What the acknowledging supporter sees (times UTC; the page shows them in the facility's zone)."""

    facility: str
    urgency: str | None
    group: bool
    people: tuple[DirectoryEntry, ...]
    missing: int  # people to support who are not in the directory
    acknowledged_at: datetime
    callback_by: datetime
    meet_by: datetime
    expires_at: datetime
    guide: FacilityGuide
    coordinator_phone: str | None
    form_token: str  # the hidden field of the page's forms (CSRF); empty: a link that cannot act
    contacted: bool
    approach: Approach  # what kind of contact: decides the approach script
    offer: Offer | None  # a referral offer's answer so far (None: not an offer)


@dataclass(frozen=True)
class Withheld:
    """The case is not (or no longer) this supporter's: nothing about the colleague."""

    reason: str


class NotTheRecipient(Exception):
    """A signed-in viewer who is not the link's recipient (SSO required)."""


async def view(
    uow: UnitOfWork,
    token: str,
    settings: NotificationSettings,
    now: datetime,
    viewer_refs: tuple[str, ...] | None = None,
) -> tuple[str, CaseView | Withheld]:
    """The link's recipient (the audit actor) and their case page; a domain error (field 'token') for a bad link.

    ``viewer_refs``: when SSO is required, the signed-in supporter's pseudonyms; NotTheRecipient unless the
    link was sent to them. Commits the audit rows of the people revealed."""
    s = uow.session
    repo = Repository(s)
    link, page = await resolve(repo, LinkRepository(s), token, Action.VIEW, now)
    if viewer_refs is not None and link.recipient_ref not in viewer_refs:
        raise NotTheRecipient
    if page.assignment_id is None:
        raise NoAnswerNeeded("token", "this page has no case to show")
    a = await AssignmentRepository(uow).get(page.assignment_id, lock=False)
    if a.acknowledged_by != link.recipient_ref or a.state not in HELD_STATES:
        return link.recipient_ref, Withheld(_withheld(a.state, a.acknowledged_by, link.recipient_ref))
    mode = await repo.case_mode(a.case_id)
    refs = list(a.supported or [])
    people = DirectoryRepository(s)
    found = [(ref, e) for ref in refs if (e := await people.find([ref])) is not None]
    await _audit(uow, link.recipient_ref, [ref for ref, _ in found], now)
    acknowledged_at = a.acknowledged_at or now
    shown = CaseView(
        facility=a.facility,
        urgency=a.urgency,
        group=mode == "group" or len(refs) > 1,
        people=tuple(e.entry for _, e in found),
        missing=len(refs) - len(found),
        acknowledged_at=acknowledged_at,
        callback_by=acknowledged_at + timedelta(minutes=settings.callback_minutes),
        meet_by=a.contact_deadline,
        expires_at=link.expires_at,
        guide=guide_for(settings.facility_guides, a.facility),
        coordinator_phone=settings.coordinator_phone,
        form_token=tokens.form_token(link) if link.form_secret else "",
        contacted=a.contacted_at is not None,
        approach=await approach_of_case(s, a.case_id),
        offer=await offer_of(s, a.case_id),
    )
    return link.recipient_ref, shown


def _withheld(state: str, holder: str | None, recipient: str) -> str:
    if holder not in (None, recipient):
        return "Another supporter has this case. Thank you for answering."
    if state == AssignmentState.CLOSED.value:
        return "This case is closed."
    return "This case is no longer yours: you handed it back, so another supporter is being asked to take it."


async def _audit(uow: UnitOfWork, recipient: str, refs: list[str], now: datetime) -> None:
    """One audit row per person revealed: the viewer (page-link:<recipient>) and the pseudonym. Commits."""
    if refs:
        rows = [
            {
                "at": now,
                "actor": f"page-link:{recipient}",
                "scopes": "",
                "action": REVEAL,
                "resource": RESOURCE + ref,
                "status": 200,
            }
            for ref in refs
        ]
        await uow.session.execute(insert(audit_log), rows)
    await uow.commit()
