"""Poison messages: outage or poison, the dead-letter topic (reason, source, attempts) and retry counting."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from psp_common import topics
from psp_common.field_names import dotted
from psp_common.locks import lost_race
from psp_common.metrics import Metrics

log = logging.getLogger("psp.kafka")

TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
    KafkaError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is an outage or a lost race (retry until it passes) rather than a poison message."""
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or lost_race(exc)):
        return True
    return isinstance(exc, TRANSIENT)


def safe_reason(exc: BaseException) -> str:
    """A dead-letter reason that names fields and rules but never echoes input values."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_input=False, include_url=False)[:10]:
            loc = dotted(err) or "<root>"
            parts.append(f"{loc}: {err['msg']}")
        return "validation failed: " + "; ".join(parts)
    return f"handler failed: {type(exc).__name__}"


Quarantine = Callable[[bytes, dict[str, str]], Awaitable[str]]


class DeadLetters:
    """Publishes poison messages to the dead-letter topic with reason, source and attempt count."""

    def __init__(
        self,
        broker: KafkaBroker,
        service: str,
        topic: str = topics.DEAD_LETTER,
        quarantine: Quarantine | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._broker = broker
        self.metrics = metrics or Metrics(service)  # where consumers report batch sizes, latency and lag
        self._service = service
        self.topic = topic
        # Where raw input may hold patient data or narrative (the listener), the body stays in the
        # service's own database and the dead letter carries a stub that points at it.
        self.quarantine = quarantine

    async def send(
        self,
        body: bytes,
        *,
        source_topic: str,
        reason: str,
        attempts: int,
        key: bytes | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        """Publish ``body`` unchanged with the dead-letter headers."""
        headers = {
            "x-dlq-reason": reason[:1000],
            "x-dlq-source-topic": source_topic,
            "x-dlq-attempts": str(attempts),
            "x-dlq-service": self._service,
            "x-dlq-source-partition": "" if partition is None else str(partition),
            "x-dlq-source-offset": "" if offset is None else str(offset),
        }
        payload = body
        if self.quarantine is not None:
            quarantine_id = await self.quarantine(body, headers)
            headers["x-dlq-quarantine-id"] = quarantine_id
            payload = json.dumps(
                {
                    "quarantined": True,
                    "quarantine_id": quarantine_id,
                    "service": self._service,
                    "size": len(body),
                    "sha256": hashlib.sha256(body).hexdigest(),
                }
            ).encode()
        await self._broker.publish(payload, self.topic, key=key, headers=headers)
        self.metrics.dead_lettered(source_topic, reason)
        log.warning(
            "dead-lettered message from %s[%s]@%s after %d attempt(s): %s",
            source_topic,
            partition,
            offset,
            attempts,
            reason[:300],
        )


class RetryTracker:
    """Counts attempts per message position so a poison message is dead-lettered after N tries."""

    def __init__(self) -> None:
        self._attempts: dict[tuple[str, int, int], int] = {}

    def bump(self, pos: tuple[str, int, int]) -> int:
        """Count one more failed attempt and return the total."""
        self._attempts[pos] = self._attempts.get(pos, 0) + 1
        return self._attempts[pos]

    def clear(self, pos: tuple[str, int, int]) -> None:
        """Forget a position once it is done."""
        self._attempts.pop(pos, None)
