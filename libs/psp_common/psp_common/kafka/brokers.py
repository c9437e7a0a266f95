"""Broker and topic making: the services' FastStream broker (acks=all, idempotence as configured) and topics."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from psp_common.settings import ServiceSettings


def make_broker(settings: ServiceSettings, **kwargs: Any) -> KafkaBroker:
    """A FastStream Kafka broker with acks=all and idempotence as configured."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=f"psp-{settings.service_name}",
        log_level=logging.DEBUG,  # FastStream's two lines per message stay out of INFO logs
        enable_idempotence=settings.kafka_idempotence,
        acks="all",
        graceful_timeout=15.0,
        description=f"PSP Outreach {settings.service_name} service",
        **kwargs,
    )


async def ensure_topics(bootstrap: str, names: tuple[str, ...], partitions: int, replication: int) -> None:
    """Create missing topics (idempotent)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, partitions, replication) for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
