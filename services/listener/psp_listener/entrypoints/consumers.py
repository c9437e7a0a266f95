"""Listener Kafka intake: raw native reports; invalid ones go to the dead-letter topic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psp_common import topics
from psp_common.kafka import subscribe_raw
from psp_listener import handlers
from psp_listener.adapters.schemas import OccurrenceReportV1

if TYPE_CHECKING:
    from psp_listener.bootstrap import Container

GROUP = "psp-listener"


def register(container: Container) -> None:
    """Subscribe the intake topics."""
    rt = container.runtime

    async def handle_native(report: OccurrenceReportV1) -> None:
        async with rt.uow() as uow:
            await handlers.accept_native_report(report, uow, container.pseudo)

    subscribe_raw(
        rt.broker, topic=topics.OCCURRENCE_REPORTS, group_id=GROUP,
        parse=OccurrenceReportV1.model_validate_json, handle=handle_native,
        dead_letters=rt.dead_letters, settings=rt.settings,
        description="Native occurrence reports v1 from incident-reporting systems.",
    )
