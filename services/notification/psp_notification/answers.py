"""A supporter's answer to a page through its link: check the token, acknowledge or decline, use the token up.

The token is looked up by its hash, must be for this action, unexpired and unused; its page must still be
the recipient's. The answer and the token's use commit together, so a refused answer leaves the link usable
and a used link never acts twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psp_common.db import UnitOfWork, aware
from psp_common.events.status import OutreachStatus
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.repository import Repository
from psp_notification.domain import tokens
from psp_notification.domain.model import AssignmentState, PageState, Purpose, Response
from psp_notification.domain.tokens import Action, StoredLink, TokenError
from psp_notification.handlers import ActionError, advance, record_status

Row = dict[str, Any]
SETTLED = (AssignmentState.CONTACTED.value, AssignmentState.CLOSED.value)


@dataclass(frozen=True)
class Answered:
    """What an answer did, whose link it was (the audit log's actor) and, after an acknowledgement, the token
    of the supporter's case page (for the redirect only: stored hashed)."""

    result: str
    recipient_ref: str
    view_token: str | None = None


async def resolve(
    repo: Repository, links: LinkRepository, token: str, action: Action, now: datetime, *, lock: bool = False
) -> StoredLink:
    """The stored link behind ``token`` if it may do ``action`` now; ActionError (field 'token') otherwise."""
    try:
        stored = await links.get(tokens.digest(token), lock=lock) if tokens.well_formed(token) else None
        link = tokens.check(stored, action, now)
        page = await repo.page_by_id(link.page_id)
        if page is None or page["recipient_ref"] != link.recipient_ref:
            raise TokenError(403, "unknown link: altered, withdrawn or not issued by this service")
    except TokenError as exc:
        raise ActionError(exc.status, "token", exc.reason) from None
    return link


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
    repo, links = Repository(uow.session), LinkRepository(uow.session)
    link = await resolve(repo, links, token, action, now, lock=True)  # a second answer waits, then finds it used
    page, a = await _supporter_page(repo, link.page_id)
    act = act or action
    result = await (acknowledge if act is Action.ACK else decline)(uow, repo, page, a, now)
    if not await links.use(link.token_hash, now):  # a concurrent answer with the same link won
        raise ActionError(410, "token", "link already used")
    view = None
    if result == "acknowledged":
        view, stored = tokens.issue_view(
            link.page_id, link.recipient_ref, now, max(aware(a["contact_deadline"]) or now, now + view_ttl)
        )
        await links.add([stored])
    await uow.commit()
    return Answered(result, link.recipient_ref, view)


async def _supporter_page(repo: Repository, page_id: int) -> tuple[Row, Row]:
    page = await repo.page_by_id(page_id)
    assert page is not None  # resolve() found it
    if page["purpose"] != Purpose.PAGE.value or not page["assignment_id"]:
        raise ActionError(409, "token", "this page asks for no answer")
    a = await repo.assignment(page["assignment_id"])
    assert a is not None
    return page, a


async def acknowledge(uow: UnitOfWork, repo: Repository, page: Row, a: Row, now: datetime) -> str:
    """The supporter takes the case, unless it is settled or someone else took it first."""
    ref = page["recipient_ref"]
    if a["acknowledged_by"] == ref:
        return "already acknowledged"
    if page["response"] == Response.DECLINED.value:
        raise ActionError(409, "token", "this page was declined")
    if a["state"] not in (AssignmentState.PAGING.value, AssignmentState.ESCALATED.value):
        raise ActionError(409, "token", f"the case is already {a['state']}")
    await repo.update_page(page["id"], response=Response.ACKNOWLEDGED.value, responded_at=now)
    await repo.update_assignment(
        a["assignment_id"], state=AssignmentState.ACKNOWLEDGED.value, acknowledged_by=ref, acknowledged_at=now
    )
    await repo.cancel_pending(a["assignment_id"], [Purpose.PAGE.value])
    await record_status(
        uow,
        repo,
        a,
        OutreachStatus.ACKNOWLEDGED,
        now,
        assignment_id=a["assignment_id"],
        supporter_ref=ref,
        channel=page["channel"],
    )
    return "acknowledged"


async def decline(uow: UnitOfWork, repo: Repository, page: Row, a: Row, now: datetime) -> str:
    """The supporter declines (self-determination): the next backup is paged if they were the one being asked.

    A decline after someone else took the case changes nothing; after escalation the case stays escalated.
    """
    ref = page["recipient_ref"]
    if page["response"] == Response.DECLINED.value:
        return "already declined"
    if a["acknowledged_by"] not in (None, ref):
        return "not needed: another supporter has taken the case"
    if a["state"] in SETTLED:
        raise ActionError(409, "token", f"the case is already {a['state']}")
    await repo.update_page(page["id"], response=Response.DECLINED.value, responded_at=now)
    await record_status(
        uow,
        repo,
        a,
        OutreachStatus.DECLINED,
        now,
        assignment_id=a["assignment_id"],
        supporter_ref=ref,
        channel=page["channel"],
        set_case=a["state"] != AssignmentState.ESCALATED.value,
    )
    if a["acknowledged_by"] == ref or (
        a["state"] == AssignmentState.PAGING.value and not await _outstanding(repo, page)
    ):
        await repo.update_assignment(a["assignment_id"], acknowledged_by=None, acknowledged_at=None)
        await advance(uow, repo, a, now, "a decline")
    return "declined"


async def _outstanding(repo: Repository, page: Row) -> bool:
    """Whether another supporter page of the assignment still awaits an answer."""
    return any(
        p["purpose"] == Purpose.PAGE.value
        and p["id"] != page["id"]
        and p["response"] is None
        and p["state"] in (PageState.PENDING.value, PageState.SENDING.value, PageState.SENT.value)
        for p in await repo.assignment_pages(page["assignment_id"])
    )
