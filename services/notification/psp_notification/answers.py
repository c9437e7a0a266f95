"""A supporter's answer to a page through its link: check the token, acknowledge or decline, use the token up.

The token is looked up by its hash, must be for this action, unexpired and unused; its page must still be
the recipient's. The answer (the ``Assignment`` decides) and the token's use commit together, so a refused
answer leaves the link usable and a used link never acts twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from psp_common.db import UnitOfWork
from psp_notification.adapters.assignments import AssignmentRepository
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.repository import Repository
from psp_notification.domain import tokens
from psp_notification.domain.errors import LinkRefused, LinkSpent, NoAnswerNeeded
from psp_notification.domain.model import Page
from psp_notification.domain.tokens import Action, StoredLink


@dataclass(frozen=True)
class Answered:
    """What an answer did, whose link it was (the audit log's actor) and, after an acknowledgement, the token
    of the supporter's case page (for the redirect only: stored hashed)."""

    result: str
    recipient_ref: str
    view_token: str | None = None


async def resolve(
    repo: Repository, links: LinkRepository, token: str, action: Action, now: datetime, *, lock: bool = False
) -> tuple[StoredLink, Page]:
    """The stored link behind ``token`` if it may do ``action`` now, and its page; LinkRefused/LinkSpent otherwise."""
    stored = await links.get(tokens.digest(token), lock=lock) if tokens.well_formed(token) else None
    link = tokens.check(stored, action, now)
    page = await repo.page_by_id(link.page_id)
    if page is None or page.recipient_ref != link.recipient_ref:
        raise LinkRefused("token", "unknown link: altered, withdrawn or not issued by this service")
    return link, page


async def answer(
    uow: UnitOfWork,
    token: str,
    action: Action,
    now: datetime,
    *,
    view_ttl: timedelta,
    act: Action | None = None,
) -> Answered:
    """Acknowledge or decline the link's page and use the link up, in one transaction.

    ``act`` (default: the link's own action) lets the acknowledge link's page decline too ("I can't"). An
    acknowledgement issues a case-page token, valid until the contact deadline or ``view_ttl``, the later.
    """
    links = LinkRepository(uow.session)
    link, page = await resolve(Repository(uow.session), links, token, action, now, lock=True)  # a second waits
    if page.id is None or page.assignment_id is None or not page.asks_supporter:
        raise NoAnswerNeeded("token", "this page asks for no answer")
    assignments = AssignmentRepository(uow)
    a = await assignments.get(page.assignment_id)
    result = a.acknowledge(page.id, now) if (act or action) is Action.ACK else a.decline(page.id, now)
    if not await links.use(link.token_hash, now):  # a concurrent answer with the same link won
        raise LinkSpent("token", "link already used")
    await assignments.save(a)
    view = None
    if result == "acknowledged":
        view, stored = tokens.issue_view(page.id, link.recipient_ref, now, max(a.contact_deadline, now + view_ttl))
        await links.add([stored])
    await uow.commit()
    return Answered(result, link.recipient_ref, view)
