"""Matching subscribers (thin): outreach requests in; closures and acknowledgements from the status feed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatusChanged
from psp_common.kafka import subscribe_events
from psp_matching import handlers, set_based

if TYPE_CHECKING:
    from psp_matching.bootstrap import Container

GROUP = "psp-matching"
GROUP_STATUS = "psp-matching.status"  # own group per topic: independent rebalances and lag


def register(container: Container) -> None:
    """Subscribe the matching service's topics: set-based handlers, also for one event (a list of one)."""
    rt = container.runtime

    async def handle_many(events: list[OutreachRequested], uow: UnitOfWork) -> None:
        await set_based.on_outreach_requested_many(events, uow, container.deps)

    subscribe_events(
        rt.broker,
        topic=topics.OUTREACH_REQUESTED,
        group_id=GROUP,
        model=OutreachRequested,
        handler_many=handle_many,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Outreach cases to staff with a peer supporter.",
    )

    async def on_status_many(events: list[OutreachStatusChanged], uow: UnitOfWork) -> None:
        await set_based.on_status_many(events, uow, container.deps)

    subscribe_events(
        rt.broker,
        topic=topics.OUTREACH_STATUS,
        group_id=GROUP_STATUS,
        model=OutreachStatusChanged,
        handler_many=on_status_many,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description=(
            "Outreach lifecycle; 'closed' starts the retention clock of matching's case; a backup's "
            "'acknowledged' counts toward their monthly cap."
        ),
        relevant=handlers.status_is_relevant,
        lazy=True,  # bookkeeping: a few of the busiest topic's records, none of them urgent
    )
