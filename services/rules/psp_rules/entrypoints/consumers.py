"""Rules Kafka subscribers (thin): incidents in, case closures from the outreach status feed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events.intake import IncidentObserved
from psp_common.events.referral import ReferralObserved
from psp_common.events.status import OutreachStatus, OutreachStatusChanged, status_marker
from psp_common.kafka import subscribe_events
from psp_rules import handlers, referrals

if TYPE_CHECKING:
    from psp_rules.bootstrap import Container

GROUP = "psp-rules"
GROUP_STATUS = "psp-rules.status"  # own group per topic: independent rebalances and lag
GROUP_REFERRALS = "psp-rules.referrals"


def register(container: Container) -> None:
    """Subscribe the rules service's topics (set-based handlers; one event is a batch of one)."""
    rt = container.runtime

    async def on_incidents(events: list[IncidentObserved], uow: UnitOfWork) -> None:
        await handlers.on_incidents(events, uow, container.config, container.clock.now())

    subscribe_events(
        rt.broker,
        topic=topics.INCIDENT_OBSERVED,
        group_id=GROUP,
        model=IncidentObserved,
        handler_many=on_incidents,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Pseudonymized incidents; rules decide who is offered support.",
    )
    subscribe_events(
        rt.broker,
        topic=topics.OUTREACH_STATUS,
        group_id=GROUP_STATUS,
        model=OutreachStatusChanged,
        handler_many=handlers.on_statuses,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Outreach lifecycle; 'closed' closes the rules service's case.",
        relevant=handlers.status_is_relevant,
        markers=(status_marker(OutreachStatus.CLOSED),),
        lazy=True,  # bookkeeping: a few of the busiest topic's records, none of them urgent
    )

    async def on_referrals(events: list[ReferralObserved], uow: UnitOfWork) -> None:
        now = container.clock.now()
        await referrals.on_referrals(events, uow, container.config, container.referral_policies, now)

    subscribe_events(
        rt.broker,
        topic=topics.REFERRAL_OBSERVED,
        group_id=GROUP_REFERRALS,
        model=ReferralObserved,
        handler_many=on_referrals,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Referrals; the facility's policy decides whom a supporter contacts, at the chosen urgency.",
    )
