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
from datetime import datetime, timedelta

from psp_common import topics
from psp_common.clock import Clock
from psp_common.db import UowFactory
from psp_notification import handlers
from psp_notification.adapters import wakeups
from psp_notification.adapters.channels import ChannelRouter
from psp_notification.adapters.repository import Repository
from psp_notification.delivery import Delivery
from psp_notification.domain.feeds import due_calls
from psp_notification.domain.model import OPEN_STATES
from psp_notification.feeds import build_feed, facility_zone
from psp_notification.settings import NotificationSettings

log = logging.getLogger("psp.notification.dispatcher")


class Dispatcher:
    """Runs one round of due work per tick; ``run`` loops forever (a ``Runtime.background`` loop)."""

    def __init__(self, uow: UowFactory, settings: NotificationSettings, clock: Clock, router: ChannelRouter) -> None:
        self.uow, self.settings, self.clock, self.router = uow, settings, clock, router
        self.delivery = Delivery(uow, settings, clock, router)
        self._wake = asyncio.Event()
        self._feeds_done: set[tuple[str, str, str]] = set()
        self.concurrency = settings.dispatch_concurrency

    def wake(self) -> None:
        """Look for work now (after an API action committed)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliveries and timers as two independent loops: a slow send never holds up an ack or contact timer."""
        async with asyncio.TaskGroup() as loops:
            loops.create_task(self.run_timers())
            loops.create_task(self.run_deliveries())

    async def run_timers(self) -> None:
        """Run the timers, then sleep until the next ack window or contact deadline runs out, at most
        ``timer_poll_s`` (safety-call feeds; a deadline written meanwhile is minutes away). They create pages: wake
        the deliveries. Failures are retried after ``timer_poll_s``."""
        while True:
            wait = self.settings.timer_poll_s
            try:
                now = self.clock.now()
                await self.timers(now)
                self.wake()
                wait = await self.timer_wait(now)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher timers failed; retrying")
            await self.pause(None, wait)

    async def run_deliveries(self) -> None:
        """Deliver due pages, then sleep until woken (a page was written) or the next page falls due (a retry, a
        lease running out), at most ``dispatch_idle_s``; failures are retried after ``dispatch_poll_s``."""
        while True:
            self._wake.clear()
            wait = self.settings.dispatch_poll_s
            try:
                now = self.clock.now()
                await self.deliver_due(now)
                wait = await self.delivery_wait(now)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher delivery round failed; retrying")
            await self.pause(self._wake, wait)

    async def timer_wait(self, now: datetime) -> float:
        """Seconds from the clock's now until the next timer after ``now`` is due, at most ``timer_poll_s``."""
        states = sorted(s.value for s in OPEN_STATES)
        async with self.uow() as uow:
            due = await wakeups.next_timer_due(uow.session, now, states)
        return self._until(due, self.settings.timer_poll_s)

    async def delivery_wait(self, now: datetime) -> float:
        """Seconds from the clock's now until the next page after ``now`` is due, at most ``dispatch_idle_s``."""
        async with self.uow() as uow:
            due = await wakeups.next_page_due(uow.session, now)
        return self._until(due, self.settings.dispatch_idle_s)

    def _until(self, due: datetime | None, cap_s: float) -> float:
        if due is None:
            return cap_s
        return min(max((due - self.clock.now()).total_seconds(), 0.0), cap_s)

    async def pause(self, wake: asyncio.Event | None, seconds: float) -> None:
        """Sleep ``seconds`` or until ``wake`` is set (tests replace this to advance a manual clock instead)."""
        if wake is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(wake.wait(), seconds)
        except TimeoutError:
            pass

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
                page = await Repository(uow.session).page_by_id(page_id)
                if page is not None:
                    await handlers.expire_page(uow, page, now)

    async def escalate_overdue(self, now: datetime) -> None:
        """Contact deadline missed: page the coordinator once per assignment."""
        async with self.uow() as uow:
            ids = await Repository(uow.session).overdue_assignments(now, sorted(s.value for s in OPEN_STATES))
        for aid in ids:
            async with self.uow() as uow:
                await handlers.escalate_overdue(uow, aid, now)

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
        """Send every due page, ``concurrency`` at a time (pages written meanwhile too); return how many were sent."""
        return await self.delivery.deliver_due(now, self.concurrency, self._wake)
