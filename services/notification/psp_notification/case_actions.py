"""What the supporter does from the case page (authorized by the view token and the form token, CSRF):
"I've reached them", log an encounter, "they declined the offer", hand back, close. Each action: check the link
and form -> load the Assignment -> it checks the supporter still holds the case and decides -> save.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from psp_common.db import UnitOfWork
from psp_notification import encounters, handlers
from psp_notification.adapters.assignments import AssignmentRepository
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.repository import Repository
from psp_notification.answers import resolve
from psp_notification.domain import tokens
from psp_notification.domain.assignment import Assignment
from psp_notification.domain.encounters import Actor, Encounter
from psp_notification.domain.errors import NotTheHolder
from psp_notification.domain.tokens import Action
from psp_notification.settings import NotificationSettings


@dataclass(frozen=True)
class Holder:
    """The supporter acting (the link's recipient) and the assignment they hold."""

    supporter_ref: str
    assignment_id: str
    facility: str


async def holder(uow: UnitOfWork, token: str, form_token: str | None, now: datetime) -> Holder:
    """The view link's recipient if the form is this page's and they still hold the case; domain errors
    otherwise (a bad link or form, the case someone else's, closed or nobody's)."""
    link, page = await resolve(Repository(uow.session), LinkRepository(uow.session), token, Action.VIEW, now)
    tokens.check_form(link, form_token)
    if page.assignment_id is None:
        raise NotTheHolder("token", "another supporter has this case")
    a = await AssignmentRepository(uow).get(page.assignment_id)
    a.require_holder(link.recipient_ref)
    return Holder(link.recipient_ref, a.assignment_id, a.facility)


async def _held(uow: UnitOfWork, h: Holder, act: Callable[[Assignment], str | None]) -> str | None:
    def checked(a: Assignment) -> str | None:
        a.require_holder(h.supporter_ref)
        return act(a)

    result: str | None = await handlers.change(uow, h.assignment_id, checked)
    return result


async def contacted(uow: UnitOfWork, h: Holder, settings: NotificationSettings, now: datetime) -> str:
    """ "I've reached them"."""
    return str(await _held(uow, h, lambda a: a.mark_contacted(now, settings.checkin_hours)))


async def log_encounter(uow: UnitOfWork, h: Holder, e: Encounter, settings: NotificationSettings, now: datetime) -> str:
    """Log an encounter (InvalidEncounter naming the field when the values do not fit)."""
    number = await encounters.log_encounter(
        uow, h.assignment_id, e, Actor(refs=frozenset({h.supporter_ref})), settings, now
    )
    return f"encounter {number} logged"


async def decline_offer(uow: UnitOfWork, h: Holder, e: Encounter, settings: NotificationSettings, now: datetime) -> str:
    """ "They declined the offer": a support_declined encounter (the offer declined, the case closed quietly)."""
    await encounters.decline_offer(uow, h.assignment_id, e, Actor(refs=frozenset({h.supporter_ref})), settings, now)
    return "offer declined"


async def hand_back(uow: UnitOfWork, h: Holder, now: datetime) -> str:
    """ "I can't take this": the next backup is paged, or the coordinator when none is left."""
    await _held(uow, h, lambda a: a.hand_back(h.supporter_ref, now))
    return "handed back"


async def close(uow: UnitOfWork, h: Holder, now: datetime) -> str:
    """The supporter closes the case."""
    return str(await _held(uow, h, lambda a: a.close(now)))
