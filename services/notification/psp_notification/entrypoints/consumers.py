"""Notification subscribers: thin adapters from topics to handlers (inbox dedupe, DB commit, then offset).

A consumed batch's new events are handled set-based (``consumed``) in one unit of work; one event is a batch of
one (batching off, and the fallback of a batch that failed, so a poison event is dead-lettered alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events.matching import SupporterMatched, SupporterUnmatched
from psp_common.events.outreach import OutreachRequested
from psp_common.kafka import subscribe_events
from psp_notification import consumed

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

    async def matched_many(events: list[SupporterMatched], uow: UnitOfWork) -> None:
        await consumed.matched(events, uow, c.settings, c.clock.now())
        uow.after_commit(c.dispatcher.wake)  # the pages are due now: do not wait for the poll

    async def unmatched_many(events: list[SupporterUnmatched], uow: UnitOfWork) -> None:
        await consumed.unmatched(events, uow, c.clock.now())
        uow.after_commit(c.dispatcher.wake)

    async def requested_many(events: list[OutreachRequested], uow: UnitOfWork) -> None:
        await consumed.requested(events, uow, c.clock.now())

    subscribe_events(
        rt.broker,
        topic=topics.SUPPORTER_MATCHED,
        group_id=GROUP,
        model=SupporterMatched,
        handler_many=matched_many,
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
        handler_many=unmatched_many,
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
        handler_many=requested_many,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Record 'requested' and feed the safety-call lists.",
    )
