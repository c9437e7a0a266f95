"""Page delivery, pipelined: due pages are claimed (read and leased in one statement) as send slots free up, while
the other pages are still being sent (each within its channels' deadlines); the sends that finished are recorded
together (one statement on PostgreSQL, their assignments' changes set-based too), in the same transaction as the
claim that refills their slots.

Crash safety is the dispatcher's (see its module docstring): a page is leased in a committed transaction
before any channel is called and marked afterwards only while the lease is still its claim's; a crash in
between leaves a lease that runs out, and the page is delivered again with the same idempotency key. The
router stops a page's channels at half its lease, so a slow channel cannot outlive the lease.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psp_common.clock import Clock
from psp_common.db import UnitOfWork, UowFactory
from psp_notification.adapters import claims
from psp_notification.adapters.assignments import AssignmentRepository
from psp_notification.adapters.channels import ChannelRouter, PageMessage, TransportError
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.orm import pages
from psp_notification.adapters.repository import Repository
from psp_notification.domain import tokens
from psp_notification.domain.assignment import still_wanted
from psp_notification.domain.model import COORDINATOR, Page, PageState, Purpose, backoff
from psp_notification.domain.texts import page_text
from psp_notification.settings import ChannelConfig, NotificationSettings

log = logging.getLogger("psp.notification.delivery")
Claimed = tuple[Page, list[ChannelConfig], dict[str, str]]  # page, channels, link tokens by action


@dataclass
class Outcome:
    """What the channels did with one claimed page."""

    page: Page
    owner: str  # the lease it was sent under
    kind: str | None  # the channel that took it, None when every channel failed
    error: str | None
    done: datetime
    permanent: bool = False  # every channel failed for a reason trying again cannot fix


@dataclass
class Leased:
    """What one claim leased: how many pages, those to send (with their recipients' channels), their link tokens."""

    count: int = 0
    pages: list[claims.Claim] = field(default_factory=list)
    links: dict[int, dict[str, str]] = field(default_factory=dict)


@dataclass
class Settled:
    """A round's transaction: pages recorded sent, whether one failed for good, the claim (if ``tried``)."""

    sent: int
    gave_up: bool
    owner: str  # the new lease
    claimed: list[Claimed]
    leased: int
    tried: bool


def _heard(woken: asyncio.Event | None) -> bool:
    """Whether ``woken`` was set (a page was written); clears it."""
    if woken is None or not woken.is_set():
        return False
    woken.clear()
    return True


class Delivery:
    """Claims due pages, hands them to channels concurrently and marks the outcomes."""

    def __init__(self, uow: UowFactory, settings: NotificationSettings, clock: Clock, router: ChannelRouter) -> None:
        self.uow, self.settings, self.clock, self.router = uow, settings, clock, router

    async def deliver_due(self, now: datetime, slots: int, woken: asyncio.Event | None = None) -> int:
        """Send every due page, at most ``slots`` at once; return how many were sent.

        Pipelined: freed slots are refilled by one claim while the other pages are still being sent, and finished
        sends are recorded together; a round's marks and claim share one transaction (``settle``). Both wait for a
        quarter of the slots (``batch``) to be free (finished) unless nothing else is being sent; finished sends are
        also recorded when ``dispatch_poll_s`` passed with none finishing. A page written meanwhile (``woken``) is
        claimed at once while a quarter of the slots is free (in a backlog it waits for them: no claim of its own).
        Pages falling due during the call, or paged because a page failed for good, are claimed by it too. A page that
        failed in this call waits for its retry time.
        """
        batch = max(1, slots // 4)
        running: set[asyncio.Task[Outcome]] = set()
        finished: list[Outcome] = []
        retried: list[int] = []  # failed in this call: not tried again before their retry time, even if due
        sent, more, idle = 0, True, False
        while True:
            woke = _heard(woken)
            marking: list[Outcome] = []
            if finished and (not running or idle or len(finished) >= batch):
                marking, finished = finished, []
                retried += [int(o.page.id or 0) for o in marking if o.kind is None]
            more = more or woke or idle  # idle: nothing finished within dispatch_poll_s, pages may have fallen due
            free = slots - len(running)
            limit = free if free > 0 and (free >= batch or not running) else 0
            if marking or (more and limit):
                done = await self.settle(now, marking, limit, want=more, skip=retried)
                sent += done.sent
                running |= {asyncio.create_task(self._send(*c, done.owner)) for c in done.claimed}
                # A claim cut at its limit: more pages may be due. None: a page failed for good pages the next backup.
                more = done.leased == limit if done.tried else more or done.gave_up
            if not running and not finished:
                return sent
            if running:
                done_tasks, running = await self._wait(running, woken)
                finished += [task.result() for task in done_tasks]
                idle = not done_tasks
            now = self.clock.now()

    async def _wait(
        self, running: set[asyncio.Task[Outcome]], woken: asyncio.Event | None
    ) -> tuple[set[asyncio.Task[Outcome]], set[asyncio.Task[Outcome]]]:
        """Wait until a send finishes, a page is written (``woken``) or ``dispatch_poll_s`` passed; (done, running)."""
        waiter = asyncio.ensure_future(woken.wait()) if woken is not None else None
        watched: set[asyncio.Future[Any]] = set(running)
        if waiter is not None:
            watched.add(waiter)
        try:
            await asyncio.wait(watched, timeout=self.settings.dispatch_poll_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if waiter is not None:
                waiter.cancel()
        done = {t for t in running if t.done()}
        return done, running - done

    async def settle(
        self, now: datetime, outcomes: list[Outcome], limit: int, *, want: bool = True, skip: list[int] | None = None,
        only: list[int] | None = None,
    ) -> Settled:  # fmt: skip
        """The one delivery transaction (every claim and every mark goes through it): record ``outcomes``, each only
        where its lease is still held (one statement on PostgreSQL; their assignments learn what happened), then
        lease up to ``limit`` due pages (among ``only`` if given, none of ``skip``) under a new owner if ``want`` or
        a page failed for good (its backup's page was just written); pages of a settled assignment are cancelled.
        ``limit`` 0: marks only; no ``outcomes``: a claim only."""
        owner = str(uuid.uuid4())
        async with self.uow() as uow:
            sent, failed = await self._record(uow, outcomes)
            tried = limit > 0 and (want or bool(failed))
            leased = await self._lease(uow, now, owner, limit, only=only, skip=skip) if tried else Leased()
            if outcomes or leased.count:  # nothing written: no commit
                await uow.commit()
        return Settled(len(sent), bool(failed), owner, self._claimed(leased), leased.count, tried)

    async def _lease(
        self, uow: UnitOfWork, now: datetime, owner: str, limit: int, *, only: list[int] | None = None,
        skip: list[int] | None = None,
    ) -> Leased:  # fmt: skip
        lease = now + timedelta(seconds=self.settings.send_lease_s)
        leased = await claims.claim_due(uow.session, now, lease, owner, limit, only=only, skip=skip or ())
        if not leased:
            return Leased()
        # The assignments' states come with the claim, not locked: an answer committed meanwhile finds the page
        # being sent, as it would a moment later.
        got = [c for c in leased if still_wanted(c.page, c.assignment_state)]
        if len(got) < len(leased):  # the claim counted a round that is not made
            unwanted = [int(c.page.id or 0) for c in leased if not still_wanted(c.page, c.assignment_state)]
            await Repository(uow.session).mark_leased(
                unwanted, owner, state=PageState.CANCELLED.value, lease_until=None, attempts=pages.c.attempts - 1
            )
        links = await self._issue_links(LinkRepository(uow.session), [c.page for c in got], now)
        return Leased(len(leased), got, links)

    def _claimed(self, leased: Leased) -> list[Claimed]:
        """The leased pages to send, each with its recipient's channels and its link tokens."""
        return [
            (c.page, self._preferences(c.page.recipient_ref, c.channels), leased.links.get(c.page.id or 0, {}))
            for c in leased.pages
        ]

    async def _issue_links(self, repo: LinkRepository, got: list[Page], now: datetime) -> dict[int, dict[str, str]]:
        """Fresh ack/decline tokens for each supporter page being sent (every round); only hashes are stored."""
        ttl = timedelta(minutes=self.settings.token_ttl_minutes)
        out: dict[int, dict[str, str]] = {}
        stored: list[tokens.StoredLink] = []
        for page in got:
            if page.asks_supporter and page.id is not None:
                out[page.id], rows = tokens.issue(page.id, page.recipient_ref, now, ttl)
                stored += rows
        await repo.add(stored)
        return out

    def _preferences(self, recipient: str, channels: list[dict[str, str]] | None) -> list[ChannelConfig]:
        if recipient == COORDINATOR:
            return list(self.settings.coordinator_channels)
        if not channels:
            return [ChannelConfig(kind=self.settings.default_channel, address="")]
        return [ChannelConfig.model_validate(c) for c in channels]

    def message(self, page: Page, tokens_by_action: dict[str, str]) -> PageMessage:
        """The page's text and links (a supporter page: its own ack and decline tokens, built only here)."""
        base = self.settings.public_base_url.rstrip("/")
        links = {"case": f"{base}/v1/cases/{page.case_id}/status"}
        if tokens_by_action:
            links = {action: f"{base}/v1/pages/{token}/{action}" for action, token in tokens_by_action.items()}
        return PageMessage(
            idempotency_key=page.idempotency_key,
            recipient_ref=page.recipient_ref,
            purpose=page.purpose.value,
            urgency=page.urgency,
            text=page_text(page.purpose, page.urgency, links),
            links=links,
        )

    async def _send(self, page: Page, prefs: list[ChannelConfig], links: dict[str, str], owner: str) -> Outcome:
        permanent = False
        try:
            kind: str | None = await self.router.deliver(self.message(page, links), prefs)
            error = None
        except TransportError as exc:
            kind, error, permanent = None, str(exc)[:300], exc.permanent
        except Exception as exc:  # a fault in one page must not leave the chunk's other pages unmarked
            # Type only: a traceback or message could carry an address, and contact details stay out of logs.
            log.error("page %s: channel call failed (%s)", page.idempotency_key, type(exc).__name__)
            kind, error = None, f"channel call failed: {type(exc).__name__}"
        return Outcome(page, owner, kind, error, self.clock.now(), permanent)

    async def _record(self, uow: UnitOfWork, outcomes: list[Outcome]) -> tuple[list[Outcome], list[Outcome]]:
        """Record the outcomes whose lease is still held, and what their assignments learn; (sent, failed for good)."""
        if not outcomes:
            return [], []
        marks = [self._mark_of(o) for o in outcomes]
        recorded = await claims.record(uow.session, marks)
        kept = [(o, m) for o, m in zip(outcomes, marks, strict=True) if m.page_id in recorded.ids]
        sent = [o for o, _ in kept if o.kind is not None]
        failed = [o for o, m in kept if m.state == PageState.FAILED]
        await self._statuses(uow, sent, failed, recorded.held)
        return sent, failed

    def _mark_of(self, o: Outcome) -> claims.Mark:
        """Sent; retried after a backoff; or failed for good after the last round (or a permanent failure)."""
        page, page_id = o.page, int(o.page.id or 0)
        if o.kind is not None:
            awaits_answer = page.purpose == Purpose.PAGE
            ack = o.done + timedelta(minutes=self.settings.ack_window_minutes) if awaits_answer else None
            return claims.Mark(page_id, o.owner, PageState.SENT, channel=o.kind, sent_at=o.done, ack_deadline=ack)
        if o.permanent or page.attempts >= self.settings.send_max_attempts:
            log.warning("page %s failed after %d rounds: %s", page.idempotency_key, page.attempts, o.error)
            return claims.Mark(page_id, o.owner, PageState.FAILED, last_error=o.error)
        due = o.done + backoff(self.settings.send_retry_s, page.attempts)
        return claims.Mark(page_id, o.owner, PageState.PENDING, due_at=due, last_error=o.error)

    async def _statuses(
        self, uow: UnitOfWork, sent: list[Outcome], failed: list[Outcome], rows: list[Any] | None
    ) -> None:
        """The assignments learn what happened to their supporter pages: notified, or undeliverable (next backup).
        ``rows``: the assignments as read and locked by the statement that recorded the pages (None: read here)."""
        assignments = AssignmentRepository(uow)
        paged = [o for o in (*sent, *failed) if o.page.asks_supporter]
        lost = [str(o.page.assignment_id) for o in failed if o.page.asks_supporter]
        # A notified assignment needs only the page just sent; one that pages its next backup needs all of them.
        held = await assignments.get_many(
            (str(o.page.assignment_id) for o in paged), pages_for=lost, known=[o.page for o in paged], rows=rows
        )
        for o in paged:
            a, page_id = held.get(str(o.page.assignment_id)), int(o.page.id or 0)
            if a is not None and o.kind is not None:
                a.notified(page_id, o.kind, o.done)
            elif a is not None:
                a.undeliverable(page_id, o.done)
        await assignments.save_all(held.values())
