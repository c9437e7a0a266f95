"""Background dispatcher: delivers due pages and runs the timers stored in the database.

Crash safety: a page is claimed (state ``sending``, a lease and an owner) in a committed transaction
before any channel is called, and marked ``sent`` afterwards. A crash in between leaves a claimed row
whose lease runs out; it is then delivered again with the SAME idempotency key. Delivery to a channel
is therefore at-least-once, and receivers dedupe on the idempotency key. A supporter is never given a
second page (a second key) for the same assignment: the page row is unique per key.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_

from psp_common import topics
from psp_common.db import UowFactory
from psp_common.events.status import OutreachStatus
from psp_notification.adapters.channels import ChannelError, ChannelRouter, PageMessage
from psp_notification.adapters.orm import pages
from psp_notification.adapters.repository import Repository
from psp_notification.domain import tokens
from psp_notification.domain.feeds import due_calls
from psp_notification.domain.model import (
    COORDINATOR,
    AssignmentState,
    Clock,
    PageState,
    Purpose,
    Response,
    backoff,
    page_text,
)
from psp_notification.feeds import build_feed, facility_zone
from psp_notification.handlers import advance, new_page, record_status
from psp_notification.settings import ChannelConfig, NotificationSettings

log = logging.getLogger("psp.notification.dispatcher")


class Dispatcher:
    """Runs one round of due work per tick; ``run`` loops forever (a ``Runtime.background`` loop)."""

    def __init__(self, uow: UowFactory, settings: NotificationSettings, clock: Clock, router: ChannelRouter) -> None:
        self.uow, self.settings, self.clock, self.router = uow, settings, clock, router
        self._key = settings.signing_key.get_secret_value().encode()
        self._wake = asyncio.Event()
        self._feeds_done: set[tuple[str, str, str]] = set()
        # SQLite (the embedded default) has one writer: deliver one page at a time there.
        sqlite = settings.database_url.startswith("sqlite")
        self.concurrency = 1 if sqlite else settings.dispatch_concurrency

    def wake(self) -> None:
        """Look for work now (after an API action committed)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver due pages on every wake-up or poll; run the timers every ``timer_poll_s``; retry failures."""
        timers_due = 0.0
        while True:
            try:
                if time.monotonic() >= timers_due:
                    await self.timers(self.clock.now())
                    timers_due = time.monotonic() + self.settings.timer_poll_s
                await self.deliver_due(self.clock.now())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher round failed; retrying")
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.dispatch_poll_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> int:
        """One full round: timers first (they create pages), then deliveries; return how many pages were sent."""
        now = self.clock.now()
        await self.timers(now)
        return await self.deliver_due(now)

    async def timers(self, now: datetime) -> None:
        """Ack windows, contact deadlines and safety-call feeds (minutes-scale: not on every wake-up)."""
        await self.expire_unanswered(now)
        await self.escalate_overdue(now)
        await self.publish_feeds(now)

    async def expire_unanswered(self, now: datetime) -> None:
        """No acknowledgement within the ack window: page the next backup (or the coordinator)."""
        async with self.uow() as uow:
            ids = await Repository(uow.session).unanswered_pages(now)
        for page_id in ids:
            async with self.uow() as uow:
                repo = Repository(uow.session)
                page = await repo.page_by_id(page_id)
                if page is None or not await repo.update_page(
                    page_id,
                    and_(pages.c.response.is_(None), pages.c.state == PageState.SENT.value),
                    response=Response.EXPIRED.value,
                    responded_at=now,
                ):
                    continue
                a = await repo.assignment(page["assignment_id"])
                if a is not None and a["state"] == AssignmentState.PAGING.value:
                    await advance(uow, repo, a, now, "no acknowledgement within the ack window")
                await uow.commit()

    async def escalate_overdue(self, now: datetime) -> None:
        """Contact deadline missed: page the coordinator once per assignment."""
        open_states = [
            AssignmentState.PAGING.value,
            AssignmentState.ACKNOWLEDGED.value,
            AssignmentState.ESCALATED.value,
        ]
        async with self.uow() as uow:
            ids = await Repository(uow.session).overdue_assignments(now, open_states)
        for aid in ids:
            async with self.uow() as uow:
                repo = Repository(uow.session)
                a = await repo.assignment(aid)
                if a is None or a["overdue_escalated"] or a["state"] not in open_states:
                    continue
                await repo.update_assignment(aid, overdue_escalated=True)
                await new_page(
                    repo,
                    scope=aid,
                    case_id=a["case_id"],
                    assignment_id=aid,
                    recipient=COORDINATOR,
                    purpose=Purpose.CONTACT_OVERDUE,
                    urgency=a["urgency"],
                    due_at=now,
                    now=now,
                )
                await record_status(
                    uow,
                    repo,
                    a,
                    OutreachStatus.ESCALATED,
                    now,
                    assignment_id=aid,
                    detail="contact deadline missed; coordinator paged",
                )
                await uow.commit()

    async def publish_feeds(self, now: datetime) -> None:
        """Publish each facility's safety-call feed once per call and date (unique row guards restarts)."""
        calls = {name: c.publish_at or c.end for name, c in self.settings.safety_calls.items()}
        catchup = timedelta(hours=self.settings.feed_catchup_hours)
        async with self.uow() as uow:
            facilities = set(self.settings.facility_timezones) | set(await Repository(uow.session).facilities())
        for facility in sorted(facilities):
            for call, day in due_calls(now, calls, facility_zone(self.settings, facility), catchup):
                done_key = (facility, call, day.isoformat())
                if done_key in self._feeds_done:
                    continue
                async with self.uow() as uow:
                    repo = Repository(uow.session)
                    feed = await build_feed(repo, self.settings, facility, call, day)
                    if await repo.mark_feed(
                        facility, call, day.isoformat(), str(feed.event_id), len(feed.entries), now
                    ):
                        uow.publish(topics.SAFETY_CALL_FEED, feed)
                        await uow.commit()
                        log.info(
                            "published %s %s safety-call feed for %s (%d entries)",
                            facility,
                            call,
                            day,
                            len(feed.entries),
                        )
                self._feeds_done.add(done_key)

    async def deliver_due(self, now: datetime) -> int:
        """Claim, send and mark every due page."""
        async with self.uow() as uow:
            ids = await Repository(uow.session).due_pages(now)
        if len(ids) <= 1:
            return sum([await self.deliver_one(page_id, now) for page_id in ids])
        gate = asyncio.Semaphore(self.concurrency)

        async def one(page_id: int) -> int:
            async with gate:
                return await self.deliver_one(page_id, now)

        return sum(await asyncio.gather(*(one(page_id) for page_id in ids)))

    async def _claim(
        self, page_id: int, now: datetime, owner: str
    ) -> tuple[dict[str, Any], list[ChannelConfig]] | None:
        async with self.uow() as uow:
            repo = Repository(uow.session)
            page = await repo.page_by_id(page_id)
            if page is None:
                return None
            claimable = or_(
                and_(pages.c.state == PageState.PENDING.value, pages.c.due_at <= now),
                and_(pages.c.state == PageState.SENDING.value, pages.c.lease_until <= now),
            )
            if page["purpose"] == Purpose.PAGE.value and page["assignment_id"]:
                a = await repo.assignment(page["assignment_id"])
                if a is None or a["state"] != AssignmentState.PAGING.value:
                    await repo.update_page(page_id, claimable, state=PageState.CANCELLED.value)
                    await uow.commit()
                    return None
            lease = now + timedelta(seconds=self.settings.send_lease_s)
            if not await repo.update_page(
                page_id,
                claimable,
                state=PageState.SENDING.value,
                lease_until=lease,
                lease_owner=owner,
                attempts=page["attempts"] + 1,
            ):
                return None
            prefs = await self._preferences(repo, page["recipient_ref"])
            await uow.commit()
        page["attempts"] += 1
        return page, prefs

    async def _preferences(self, repo: Repository, recipient: str) -> list[ChannelConfig]:
        if recipient == COORDINATOR:
            return list(self.settings.coordinator_channels)
        contact = await repo.contact(recipient)
        if contact is None or not contact["channels"]:
            return [ChannelConfig(kind=self.settings.default_channel, address="")]
        return [ChannelConfig.model_validate(c) for c in contact["channels"]]

    def message(self, page: dict[str, Any], now: datetime) -> PageMessage:
        """The page's text and signed, expiring links."""
        base = self.settings.public_base_url.rstrip("/")
        expires = now + timedelta(minutes=self.settings.token_ttl_minutes)
        token = tokens.sign(self._key, page["idempotency_key"], expires)
        links = {"case": f"{base}/v1/cases/{page['case_id']}/status"}
        if page["purpose"] == Purpose.PAGE.value:
            links = {"ack": f"{base}/v1/pages/{token}/ack", "decline": f"{base}/v1/pages/{token}/decline"}
        return PageMessage(
            idempotency_key=page["idempotency_key"],
            recipient_ref=page["recipient_ref"],
            purpose=page["purpose"],
            urgency=page["urgency"],
            text=page_text(Purpose(page["purpose"]), page["urgency"], links),
            links=links,
        )

    async def deliver_one(self, page_id: int, now: datetime) -> int:
        """Claim (commit), hand to the channels, then mark sent or schedule a retry; 1 if sent."""
        owner = str(uuid.uuid4())
        claimed = await self._claim(page_id, now, owner)
        if claimed is None:
            return 0
        page, prefs = claimed
        error: str | None = None
        try:
            kind: str | None = await self.router.deliver(self.message(page, now), prefs)
        except ChannelError as exc:
            kind, error = None, str(exc)[:300]
        done = self.clock.now()
        async with self.uow() as uow:
            repo = Repository(uow.session)
            mine = and_(pages.c.state == PageState.SENDING.value, pages.c.lease_owner == owner)
            if kind is not None:
                ack_deadline = None
                if page["purpose"] == Purpose.PAGE.value:
                    ack_deadline = done + timedelta(minutes=self.settings.ack_window_minutes)
                if await repo.update_page(
                    page_id,
                    mine,
                    state=PageState.SENT.value,
                    channel=kind,
                    sent_at=done,
                    ack_deadline=ack_deadline,
                    lease_until=None,
                    last_error=None,
                ):
                    await self._notified(uow, repo, page, kind, done)
            elif page["attempts"] >= self.settings.send_max_attempts:
                log.warning("page %s failed after %d rounds: %s", page["idempotency_key"], page["attempts"], error)
                if await repo.update_page(
                    page_id, mine, state=PageState.FAILED.value, last_error=error, lease_until=None
                ):
                    await self._unreachable(uow, repo, page, done)
            else:
                await repo.update_page(
                    page_id,
                    mine,
                    state=PageState.PENDING.value,
                    last_error=error,
                    lease_until=None,
                    due_at=done + backoff(self.settings.send_retry_s, page["attempts"]),
                )
            await uow.commit()
        return 1 if kind is not None else 0

    async def _notified(self, uow: Any, repo: Repository, page: dict[str, Any], kind: str, now: datetime) -> None:
        if page["purpose"] != Purpose.PAGE.value or not page["assignment_id"]:
            return
        a = await repo.assignment(page["assignment_id"])
        if a is not None:
            await record_status(
                uow,
                repo,
                a,
                OutreachStatus.NOTIFIED,
                now,
                assignment_id=a["assignment_id"],
                supporter_ref=page["recipient_ref"],
                channel=kind,
            )

    async def _unreachable(self, uow: Any, repo: Repository, page: dict[str, Any], now: datetime) -> None:
        if page["purpose"] != Purpose.PAGE.value or not page["assignment_id"]:
            return
        await repo.update_page(page["id"], response=Response.EXPIRED.value, responded_at=now)
        a = await repo.assignment(page["assignment_id"])
        if a is not None and a["state"] == AssignmentState.PAGING.value:
            await advance(uow, repo, a, now, "an unreachable supporter")
