"""What the supporter does from the case page (authorized by the view token and the form token, CSRF):
"I've reached them", log an encounter, hand back, close. Each action: check the link and form -> the usual
handler (load -> the domain decides -> save). Only the supporter who holds the case may act.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psp_common.db import UnitOfWork
from psp_notification import encounters, handback, handlers
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.repository import Repository
from psp_notification.answers import resolve
from psp_notification.domain import tokens
from psp_notification.domain.encounters import Actor, Encounter
from psp_notification.domain.model import AssignmentState
from psp_notification.domain.tokens import Action, TokenError
from psp_notification.handlers import ActionError
from psp_notification.settings import NotificationSettings

HELD = (AssignmentState.ACKNOWLEDGED.value, AssignmentState.CONTACTED.value)


@dataclass(frozen=True)
class Holder:
    """The supporter acting (the link's recipient) and the assignment they hold."""

    supporter_ref: str
    assignment_id: str
    facility: str


async def holder(uow: UnitOfWork, token: str, form_token: str | None, now: datetime) -> Holder:
    """The view link's recipient if the form is this page's and they still hold the case; ActionError otherwise
    (403 bad link or form, or the case is someone else's; 409 closed or nobody's)."""
    repo = Repository(uow.session)
    link = await resolve(repo, LinkRepository(uow.session), token, Action.VIEW, now)
    try:
        tokens.check_form(link, form_token)
    except TokenError as exc:
        raise ActionError(exc.status, "csrf", exc.reason) from None
    page = await repo.page_by_id(link.page_id)
    a = await repo.assignment(page["assignment_id"]) if page and page["assignment_id"] else None
    if a is None or a["acknowledged_by"] != link.recipient_ref:
        raise ActionError(403, "token", "another supporter has this case")
    if a["state"] not in HELD:
        raise ActionError(409, "token", f"the case is {a['state']}")
    return Holder(link.recipient_ref, a["assignment_id"], a["facility"])


async def contacted(uow: UnitOfWork, h: Holder, settings: NotificationSettings, now: datetime) -> str:
    """ "I've reached them"."""
    return await handlers.contacted(uow, h.assignment_id, settings, now)


async def log_encounter(uow: UnitOfWork, h: Holder, e: Encounter, settings: NotificationSettings, now: datetime) -> str:
    """Log an encounter (EncounterError naming the field when the values do not fit)."""
    number = await encounters.log_encounter(
        uow, h.assignment_id, e, Actor(refs=frozenset({h.supporter_ref})), settings, now
    )
    return f"encounter {number} logged"


async def hand_back(uow: UnitOfWork, h: Holder, now: datetime) -> str:
    """ "I can't take this": the next backup is paged, or the coordinator when none is left."""
    await handback.hand_back(uow, h.assignment_id, h.supporter_ref, now)
    return "handed back"


async def close(uow: UnitOfWork, h: Holder, now: datetime) -> str:
    """The supporter closes the case."""
    return await handlers.close(uow, h.assignment_id, now)
