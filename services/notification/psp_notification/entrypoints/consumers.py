"""Notification subscribers: thin adapters from topics to handlers (inbox dedupe, DB commit, then offset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events.matching import SupporterMatched, SupporterUnmatched
from psp_common.events.outreach import OutreachRequested
from psp_common.kafka import subscribe_events
from psp_notification import handlers

if TYPE_CHECKING:
    from psp_notification.bootstrap import Container

# One consumer group per input topic: each rebalances and lags independently (and Tansu re-forms
# single-topic groups reliably after a restart).
GROUP = "psp-notification"
GROUP_UNMATCHED = "psp-notification.unmatched"
GROUP_REQUESTED = "psp-notification.requested"


def register(c: Container) -> None:
    """Subscribe the three input topics."""
    rt = c.runtime

    async def matched(event: SupporterMatched, uow: UnitOfWork) -> None:
        await handlers.on_supporter_matched(event, uow, c.settings, c.clock.now())
        uow.after_commit(c.dispatcher.wake)  # the page is due now: do not wait for the poll

    async def unmatched(event: SupporterUnmatched, uow: UnitOfWork) -> None:
        await handlers.on_supporter_unmatched(event, uow, c.clock.now())
        uow.after_commit(c.dispatcher.wake)

    async def requested(event: OutreachRequested, uow: UnitOfWork) -> None:
        await handlers.on_outreach_requested(event, uow, c.clock.now())

    subscribe_events(
        rt.broker,
        topic=topics.SUPPORTER_MATCHED,
        group_id=GROUP,
        model=SupporterMatched,
        handler=matched,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Page the matched supporter (then backups, then the coordinator).",
    )
    subscribe_events(
        rt.broker,
        topic=topics.SUPPORTER_UNMATCHED,
        group_id=GROUP_UNMATCHED,
        model=SupporterUnmatched,
        handler=unmatched,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Nobody eligible: page the coordinator.",
    )
    subscribe_events(
        rt.broker,
        topic=topics.OUTREACH_REQUESTED,
        group_id=GROUP_REQUESTED,
        model=OutreachRequested,
        handler=requested,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Record 'requested' and feed the safety-call lists.",
    )
