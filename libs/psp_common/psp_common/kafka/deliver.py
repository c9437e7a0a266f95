"""Handing consumed records to a handler: parse, handle, and classify failures (poison or outage)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream.kafka.message import KafkaMessage
from pydantic import BaseModel, ValidationError

from psp_common.db import DuplicateEvent
from psp_common.kafka.dead_letters import DeadLetters, RetryTracker, is_transient, safe_reason
from psp_common.settings import ServiceSettings

log = logging.getLogger("psp.kafka")

M = TypeVar("M", bound=BaseModel)


async def deliver(
    msg: KafkaMessage,
    *,
    parse: Callable[[bytes], M],
    handle: Callable[[M], Awaitable[None]],
    dead_letters: DeadLetters,
    tracker: RetryTracker,
    settings: ServiceSettings,
) -> None:
    """Parse, handle and classify failures: poison -> dead letter and move on; outage -> raise to re-seek."""
    raw_message: Any = msg.raw_message
    raw = raw_message[0] if isinstance(raw_message, list | tuple) else raw_message
    model = _parse(raw, parse)
    if isinstance(model, Exception):
        await _dead_letter_unparsable(raw, model, dead_letters)
        return
    await _handle_parsed(raw, model, handle, dead_letters, tracker, settings)


async def deliver_batch(
    msg: KafkaMessage,
    *,
    parse: Callable[[bytes], M],
    handle_batch: Callable[[list[M]], Awaitable[None]],
    handle: Callable[[M], Awaitable[None]],
    dead_letters: DeadLetters,
    tracker: RetryTracker,
    settings: ServiceSettings,
) -> None:
    """A batch in one transaction; on a failure that is not an outage, fall back to one message at a time.

    Unparsable records are dead-lettered only once the rest of the batch is through: a raise re-seeks to the
    batch start and would otherwise dead-letter (and quarantine) the same record again on every retry.
    """
    raw_message: Any = msg.raw_message
    records = tuple(raw_message) if isinstance(raw_message, list | tuple) else (raw_message,)
    parsed: list[tuple[Any, M]] = []
    unparsable: list[tuple[Any, Exception]] = []
    for raw in records:
        model = _parse(raw, parse)
        if isinstance(model, Exception):
            unparsable.append((raw, model))
        else:
            parsed.append((raw, model))
    if parsed:
        await _handle_batch_or_each(records[0].topic, parsed, handle_batch, handle, dead_letters, tracker, settings)
    for raw, exc in unparsable:
        await _dead_letter_unparsable(raw, exc, dead_letters)


async def _handle_batch_or_each(
    topic: str,
    parsed: list[tuple[Any, M]],
    handle_batch: Callable[[list[M]], Awaitable[None]],
    handle: Callable[[M], Awaitable[None]],
    dead_letters: DeadLetters,
    tracker: RetryTracker,
    settings: ServiceSettings,
) -> None:
    try:
        await handle_batch([model for _, model in parsed])
        return
    except Exception as exc:
        if is_transient(exc):
            log.warning(
                "transient failure on a batch of %d from %s (%s); retrying", len(parsed), topic, type(exc).__name__
            )
            await _outage_pause(settings)
            raise
        log.warning("batch of %d from %s failed (%s); handling one at a time", len(parsed), topic, type(exc).__name__)
    for raw, model in parsed:  # raising here re-seeks to the batch start; the inbox skips what is done
        await _handle_parsed(raw, model, handle, dead_letters, tracker, settings)


async def _outage_pause(settings: ServiceSettings) -> None:
    """Back off before an outage makes the message be read again (NACK re-seeks)."""
    await asyncio.sleep(min(settings.retry_backoff_s * 8, 5.0))


def _parse(raw: Any, parse: Callable[[bytes], M]) -> M | Exception:
    """The parsed model, or the validation error that makes the record poison."""
    try:
        return parse(raw.value or b"")
    except (ValidationError, ValueError, UnicodeDecodeError) as exc:
        return exc


async def _dead_letter_unparsable(raw: Any, exc: Exception, dead_letters: DeadLetters) -> None:
    await dead_letters.send(
        raw.value or b"",
        source_topic=raw.topic,
        reason=safe_reason(exc),
        attempts=1,
        key=raw.key,
        partition=raw.partition,
        offset=raw.offset,
    )


async def _handle_parsed(
    raw: Any,
    model: M,
    handle: Callable[[M], Awaitable[None]],
    dead_letters: DeadLetters,
    tracker: RetryTracker,
    settings: ServiceSettings,
) -> None:
    pos = (raw.topic, raw.partition, raw.offset)
    try:
        await handle(model)
    except DuplicateEvent:
        log.info("duplicate event skipped on %s[%d]@%d", *pos)
    except Exception as exc:
        if is_transient(exc):
            log.warning("transient failure on %s[%d]@%d (%s); retrying", *pos, type(exc).__name__)
            await _outage_pause(settings)
            raise
        attempts = tracker.bump(pos)
        if attempts >= settings.max_attempts:
            tracker.clear(pos)
            await dead_letters.send(
                raw.value or b"",
                source_topic=pos[0],
                reason=safe_reason(exc),
                attempts=attempts,
                key=raw.key,
                partition=pos[1],
                offset=pos[2],
            )
            return
        log.warning("handler failed on %s[%d]@%d attempt %d: %s", *pos, attempts, type(exc).__name__)
        await asyncio.sleep(settings.retry_backoff_s * (2 ** (attempts - 1)))
        raise
    tracker.clear(pos)
