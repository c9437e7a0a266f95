"""Listener Kafka intake: native reports, FHIR AdverseEvents, huddle entries; invalid ones are dead-lettered."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events.referral import ReferralObserved
from psp_common.events.status import OutreachStatus, OutreachStatusChanged, status_marker
from psp_common.events.triage import TriageRequested
from psp_common.kafka import Schema, subscribe_events, subscribe_raw
from psp_listener import handlers, unknown_staff
from psp_listener.adapters import fhir
from psp_listener.adapters.drafts import Intake
from psp_listener.adapters.huddles import HuddleEntryV1
from psp_listener.adapters.referrals import ReferralV1
from psp_listener.adapters.schemas import OccurrenceReportV1

if TYPE_CHECKING:
    from psp_listener.bootstrap import Container

GROUP = "psp-listener"
# One consumer group per intake topic: formats fail, lag and rebalance independently of one another.
GROUPS = {
    topics.OCCURRENCE_REPORTS: GROUP,
    topics.FHIR_ADVERSE_EVENTS: f"{GROUP}-fhir",
    topics.SAFETY_HUDDLES: f"{GROUP}-huddles",
    topics.REFERRALS: f"{GROUP}-referrals",
    topics.TRIAGE_REQUESTED: f"{GROUP}-triage",
    topics.OUTREACH_STATUS: f"{GROUP}-unknown-staff",
}


def register(container: Container) -> None:
    """Subscribe the three intake topics (parse + normalize at the edge; the handler stores and publishes)."""
    rt = container.runtime
    norm = container.normalizer

    async def accept_batch(intakes: list[Intake]) -> None:
        async with rt.uow() as uow:
            await handlers.accept_batch(intakes, uow)

    formats: list[tuple[str, Callable[[bytes], Intake], Schema, str]] = [
        (
            topics.OCCURRENCE_REPORTS,
            norm.parse_native,
            OccurrenceReportV1,
            "Native occurrence reports v1 (docs/schemas).",
        ),
        (
            topics.FHIR_ADVERSE_EVENTS,
            norm.parse_fhir,
            fhir.json_schema(),
            "FHIR AdverseEvent resources, R4 or R5 (JSON).",
        ),
        (topics.SAFETY_HUDDLES, norm.parse_huddle, HuddleEntryV1, "Safety-huddle entries v1 (docs/schemas)."),
    ]
    for topic, parse, schema, description in formats:
        subscribe_raw(
            rt.broker,
            topic=topic,
            group_id=GROUPS[topic],
            parse=parse,
            handle_batch=accept_batch,  # one message too (a batch of one)
            dead_letters=rt.dead_letters,
            settings=rt.settings,
            description=description,
            schema=schema,
        )
    register_referrals(container)
    register_triage(container)
    register_unknown_staff(container)


def register_referrals(container: Container) -> None:
    """Subscribe psp.referrals.v1: a system names everyone; invalid referrals are dead-lettered (quarantined)."""
    rt = container.runtime

    async def accept_batch(events: list[ReferralObserved]) -> None:
        async with rt.uow() as uow:
            await handlers.accept_referrals(events, uow)

    subscribe_raw(
        rt.broker,
        topic=topics.REFERRALS,
        group_id=GROUPS[topics.REFERRALS],
        parse=container.normalizer.parse_referral,
        handle_batch=accept_batch,  # one referral too (a batch of one)
        dead_letters=rt.dead_letters,
        settings=rt.settings,
        description="Referrals v1: self, colleague, manager, EAP (docs/schemas); no free text is accepted.",
        schema=ReferralV1,
    )


def register_triage(container: Container) -> None:
    """Subscribe psp.rules.triage-requested.v1: incidents a rule routed to the coordinator are held (reason 'rules');
    inbox dedupe on event_id, poison dead-lettered."""
    rt = container.runtime

    async def hold_many(events: list[TriageRequested], uow: UnitOfWork) -> None:
        await handlers.hold_routed_many(events, uow)

    subscribe_events(
        rt.broker,
        topic=topics.TRIAGE_REQUESTED,
        group_id=GROUPS[topics.TRIAGE_REQUESTED],
        model=TriageRequested,
        handler_many=hold_many,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Incidents a triage rule routed to a human: held in the triage queue with reason 'rules'.",
    )


def register_unknown_staff(container: Container) -> None:
    """Subscribe psp.outreach-status.v1 for 'colleague_unknown' only (every other status is acknowledged without
    a transaction): the incident is held for the coordinator (reason 'unknown_staff'); inbox dedupe on event_id,
    poison dead-lettered."""
    rt = container.runtime

    async def hold_many(events: list[OutreachStatusChanged], uow: UnitOfWork) -> None:
        await unknown_staff.hold_unknown_staff_many(events, uow)

    subscribe_events(
        rt.broker,
        topic=topics.OUTREACH_STATUS,
        group_id=GROUPS[topics.OUTREACH_STATUS],
        model=OutreachStatusChanged,
        handler_many=hold_many,
        uow_factory=rt.uow,
        settings=rt.settings,
        dead_letters=rt.dead_letters,
        description="Cases whose colleague is not in notification's contacts directory ('colleague_unknown'): the "
        "incident is held in the triage queue with reason 'unknown_staff'.",
        relevant=unknown_staff.is_unknown_colleague,
        markers=(status_marker(OutreachStatus.COLLEAGUE_UNKNOWN),),
        lazy=True,  # bookkeeping: a few of the busiest topic's records, none of them urgent
    )
