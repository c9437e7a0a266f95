"""Page delivery: due pages claimed in one transaction as send slots free up, sent concurrently (each within
its channels' deadlines), and the finished ones marked together.

Crash safety is the dispatcher's (see its module docstring): a page is leased in a committed transaction
before any channel is called and marked afterwards only while the lease is still its claim's; a crash in
between leaves a lease that runs out, and the page is delivered again with the same idempotency key. The
router stops a page's channels at half its lease, so a slow channel cannot outlive the lease.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from psp_common.clock import Clock
from psp_common.db import UnitOfWork, UowFactory
from psp_notification.adapters.assignments import AssignmentRepository
from psp_notification.adapters.channels import ChannelRouter, PageMessage, TransportError
from psp_notification.adapters.links import LinkRepository
from psp_notification.adapters.repository import Contact, Repository, claimable
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


class Delivery:
    """Claims due pages, hands them to channels concurrently and marks the outcomes."""

    def __init__(self, uow: UowFactory, settings: NotificationSettings, clock: Clock, router: ChannelRouter) -> None:
        self.uow, self.settings, self.clock, self.router = uow, settings, clock, router

    async def deliver_due(self, now: datetime, slots: int) -> int:
        """Send every due page, at most ``slots`` at once; return how many were sent.

        Pages are claimed in one transaction as slots free up; every ``dispatch_poll_s`` the sends that finished
        are marked in one transaction. A slow send holds only its own slot (until its deadline): the other
        pages, and pages falling due meanwhile, are sent and marked without waiting for it.
        """
        window, limit = self.settings.dispatch_poll_s, max(50, 2 * slots)  # enough to fill every slot twice
        read = await self._due(now, limit)
        backlog, more = read, len(read) == limit  # a read cut at its limit: more pages may be due
        running: set[asyncio.Task[Outcome]] = set()
        tried: set[int] = set()  # one round per page and call: a failed page waits for its retry time
        sent = 0
        while backlog or running:
            if backlog and len(running) < slots:
                take, backlog = backlog[: slots - len(running)], backlog[slots - len(running) :]
                tried.update(take)
                running |= await self._start(take, now)
            failed = False
            if running:
                done, running = await asyncio.wait(running, timeout=window)
                outcomes = [task.result() for task in done]
                if outcomes:
                    await self.mark(outcomes)
                    sent += sum(1 for o in outcomes if o.kind is not None)
                failed = any(o.kind is None for o in outcomes)  # a failure may have paged the next backup
            if not backlog and (running or failed or more):  # pages that fell due meanwhile, or beyond the read
                now = self.clock.now()
                read = await self._due(now, limit)
                backlog, more = [i for i in read if i not in tried], len(read) == limit
        return sent

    async def _due(self, now: datetime, limit: int) -> list[int]:
        async with self.uow() as uow:
            return await Repository(uow.session).due_pages(now, limit)

    async def _start(self, ids: list[int], now: datetime) -> set[asyncio.Task[Outcome]]:
        """Claim ``ids`` under a new lease owner; one send task per claimed page."""
        owner = str(uuid.uuid4())
        claimed = await self.claim(ids, now, owner)
        return {asyncio.create_task(self._send(page, prefs, links, owner)) for page, prefs, links in claimed}

    async def claim(self, ids: list[int], now: datetime, owner: str) -> list[Claimed]:
        """Lease the claimable pages among ``ids`` in one transaction; pages of a settled assignment are cancelled."""
        async with self.uow() as uow:
            repo = Repository(uow.session)
            rows = await repo.pages_by_ids(ids)
            states = await AssignmentRepository(uow).states_of(str(p.assignment_id) for p in rows if p.asks_supporter)
            wanted = {p.id: still_wanted(p, states.get(str(p.assignment_id))) for p in rows}
            live = [p for p in rows if wanted[p.id]]
            unwanted = [int(p.id or 0) for p in rows if not wanted[p.id]]
            await repo.update_pages(unwanted, claimable(now), state=PageState.CANCELLED.value)  # one statement
            lease = now + timedelta(seconds=self.settings.send_lease_s)
            leased = await repo.lease_pages(
                [int(p.id or 0) for p in live],
                claimable(now),
                state=PageState.SENDING.value,
                lease_until=lease,
                lease_owner=owner,
            )
            got = [p for p in live if p.id in leased]
            stored = await repo.contacts_of(sorted({p.recipient_ref for p in got} - {COORDINATOR}))
            links = await self._issue_links(LinkRepository(uow.session), got, now)
            await uow.commit()
        out = []
        for page in got:
            page.attempts += 1
            prefs = self._preferences(page.recipient_ref, stored.get(page.recipient_ref))
            out.append((page, prefs, links.get(int(page.id or 0), {})))
        return out

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

    def _preferences(self, recipient: str, contact: Contact | None) -> list[ChannelConfig]:
        if recipient == COORDINATOR:
            return list(self.settings.coordinator_channels)
        if contact is None or not contact.channels:
            return [ChannelConfig(kind=self.settings.default_channel, address="")]
        return [ChannelConfig.model_validate(c) for c in contact.channels]

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

    async def mark(self, outcomes: list[Outcome]) -> None:
        """Record every outcome in one transaction, each only where its lease is still held."""
        async with self.uow() as uow:
            repo = Repository(uow.session)
            sent = await self._mark_sent(repo, [o for o in outcomes if o.kind is not None])
            failed = [o for o in outcomes if o.kind is None and await self._mark_failed(repo, o)]
            await self._statuses(uow, sent, failed)
            await uow.commit()

    async def _mark_failed(self, repo: Repository, o: Outcome) -> bool:
        """A failed round: retried after a backoff, or failed for good (True) after the last round."""
        page, values = o.page, {"last_error": o.error, "lease_until": None}
        if o.permanent or page.attempts >= self.settings.send_max_attempts:
            log.warning("page %s failed after %d rounds: %s", page.idempotency_key, page.attempts, o.error)
            return await repo.update_leased(int(page.id or 0), o.owner, state=PageState.FAILED.value, **values)
        due = o.done + backoff(self.settings.send_retry_s, page.attempts)
        await repo.update_leased(int(page.id or 0), o.owner, state=PageState.PENDING.value, due_at=due, **values)
        return False

    async def _mark_sent(self, repo: Repository, accepted: list[Outcome]) -> list[Outcome]:
        """Mark accepted pages sent: one statement per (lease, channel, purpose) group; the outcomes still leased."""
        groups: dict[tuple[str, str, bool], list[Outcome]] = {}
        for o in accepted:
            assert o.kind is not None
            groups.setdefault((o.owner, o.kind, o.page.purpose == Purpose.PAGE), []).append(o)
        marked: set[int] = set()
        for (owner, kind, awaits_answer), group in groups.items():
            sent_at = max(o.done for o in group)  # pages marked together; never an earlier deadline
            ack_deadline = sent_at + timedelta(minutes=self.settings.ack_window_minutes) if awaits_answer else None
            marked |= await repo.mark_leased(
                [int(o.page.id or 0) for o in group],
                owner,
                state=PageState.SENT.value,
                channel=kind,
                sent_at=sent_at,
                ack_deadline=ack_deadline,
                lease_until=None,
                last_error=None,
            )
        return [o for o in accepted if o.page.id in marked]

    async def _statuses(self, uow: UnitOfWork, sent: list[Outcome], failed: list[Outcome]) -> None:
        """The assignments learn what happened to their supporter pages: notified, or undeliverable (next backup)."""
        assignments = AssignmentRepository(uow)
        paged = [o for o in (*sent, *failed) if o.page.asks_supporter]
        held = await assignments.get_many(str(o.page.assignment_id) for o in paged)
        for o in paged:
            a, page_id = held.get(str(o.page.assignment_id)), int(o.page.id or 0)
            if a is not None and o.kind is not None:
                a.notified(page_id, o.kind, o.done)
            elif a is not None:
                a.undeliverable(page_id, o.done)
        await assignments.save_all(held.values())
