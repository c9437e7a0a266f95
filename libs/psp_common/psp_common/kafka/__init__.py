"""Kafka conventions: broker factory, topics, dead letters and the at-least-once inbox consumer.

One module per concern; every name the services, tests and bench import from ``psp_common.kafka`` is here.
"""

from __future__ import annotations

from psp_common.kafka.asyncapi import Schema, document_publisher, documented, inlined
from psp_common.kafka.brokers import ensure_topics, make_broker
from psp_common.kafka.dead_letters import TRANSIENT, DeadLetters, Quarantine, RetryTracker, is_transient, safe_reason
from psp_common.kafka.deliver import deliver, deliver_batch
from psp_common.kafka.doorbell import Doorbell
from psp_common.kafka.pacing import FetchPacer, doorbell_for, fetch_wait_settable, warn_unless_fetch_wait_settable
from psp_common.kafka.subscribe import UNREAD, Unread, observe, subscribe_events, subscribe_raw

__all__ = [
    "TRANSIENT",
    "UNREAD",
    "DeadLetters",
    "Doorbell",
    "FetchPacer",
    "Quarantine",
    "RetryTracker",
    "Schema",
    "Unread",
    "deliver",
    "deliver_batch",
    "document_publisher",
    "documented",
    "doorbell_for",
    "ensure_topics",
    "fetch_wait_settable",
    "inlined",
    "is_transient",
    "make_broker",
    "observe",
    "safe_reason",
    "subscribe_events",
    "subscribe_raw",
    "warn_unless_fetch_wait_settable",
]
