"""Unit tests of the delivery policy: poison -> dead letter, outage -> retry forever, duplicates skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from psp_common.db import DuplicateEvent
from psp_common.kafka import RetryTracker, deliver, safe_reason
from psp_common.settings import ServiceSettings


class Body(BaseModel):
    n: int


@dataclass
class Raw:
    value: bytes
    topic: str = "t"
    partition: int = 0
    offset: int = 7
    key: bytes | None = b"k"


@dataclass
class Msg:
    raw_message: Raw


@dataclass
class FakeDeadLetters:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, body: bytes, **kw: Any) -> None:
        self.sent.append({"body": body, **kw})


SETTINGS = ServiceSettings(max_attempts=3, retry_backoff_s=0.0)


async def run(msg: Msg, handle: Any, dlq: FakeDeadLetters, tracker: RetryTracker) -> None:
    await deliver(
        msg,
        parse=Body.model_validate_json,
        handle=handle,
        dead_letters=dlq,  # type: ignore[arg-type]
        tracker=tracker,
        settings=SETTINGS,
    )


async def test_invalid_payload_is_dead_lettered_at_once_with_reason_and_no_input_echo() -> None:
    dlq, seen = FakeDeadLetters(), []

    async def handle(b: Body) -> None:
        seen.append(b)

    await run(Msg(Raw(b'{"n": "SECRET-VALUE"}')), handle, dlq, RetryTracker())
    assert seen == []
    assert len(dlq.sent) == 1 and dlq.sent[0]["attempts"] == 1
    assert dlq.sent[0]["reason"].startswith("validation failed: n:")
    assert "SECRET-VALUE" not in dlq.sent[0]["reason"]
    assert dlq.sent[0]["source_topic"] == "t" and dlq.sent[0]["offset"] == 7


async def test_failing_handler_retries_then_dead_letters_with_attempt_count() -> None:
    dlq, tracker, calls = FakeDeadLetters(), RetryTracker(), []

    async def handle(b: Body) -> None:
        calls.append(b)
        raise ValueError("boom")

    msg = Msg(Raw(b'{"n": 1}'))
    for _ in range(SETTINGS.max_attempts - 1):
        with pytest.raises(ValueError):
            await run(msg, handle, dlq, tracker)  # raising -> NACK -> redelivery
    await run(msg, handle, dlq, tracker)  # last attempt: dead-lettered, returns -> offset committed
    assert len(calls) == SETTINGS.max_attempts
    assert dlq.sent[0]["attempts"] == SETTINGS.max_attempts
    assert dlq.sent[0]["reason"] == "handler failed: ValueError"


async def test_outage_is_retried_and_never_dead_lettered() -> None:
    dlq, tracker = FakeDeadLetters(), RetryTracker()

    async def handle(b: Body) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError())

    for _ in range(SETTINGS.max_attempts + 2):
        with pytest.raises(OperationalError):
            await run(Msg(Raw(b'{"n": 1}')), handle, dlq, tracker)
    assert dlq.sent == []


async def test_duplicate_is_skipped_quietly() -> None:
    dlq = FakeDeadLetters()

    async def handle(b: Body) -> None:
        raise DuplicateEvent("x")

    await run(Msg(Raw(b'{"n": 1}')), handle, dlq, RetryTracker())
    assert dlq.sent == []


def test_safe_reason_names_fields_only() -> None:
    try:
        Body.model_validate({"n": "private text"})
    except Exception as exc:
        reason = safe_reason(exc)
    assert "n:" in reason and "private text" not in reason


async def test_quarantine_keeps_the_body_off_the_dead_letter_topic() -> None:
    from psp_common.kafka import DeadLetters

    published: list[dict[str, Any]] = []
    held: dict[str, bytes] = {}

    class Broker:
        async def publish(self, payload: bytes, topic: str, **kw: Any) -> None:
            published.append({"payload": payload, "topic": topic, **kw})

    async def quarantine(body: bytes, headers: dict[str, str]) -> str:
        held["q1"] = body
        assert headers["x-dlq-source-topic"] == "intake"
        return "q1"

    dlq = DeadLetters(Broker(), "listener", quarantine=quarantine)  # type: ignore[arg-type]
    await dlq.send(b'{"narrative": "PRIVATE"}', source_topic="intake", reason="bad", attempts=1)
    assert held == {"q1": b'{"narrative": "PRIVATE"}'}
    assert b"PRIVATE" not in published[0]["payload"]
    assert published[0]["headers"]["x-dlq-quarantine-id"] == "q1"


async def test_batch_dead_letters_poison_and_falls_back_one_at_a_time() -> None:
    from psp_common.kafka import deliver_batch

    dlq, tracker = FakeDeadLetters(), RetryTracker()
    batches: list[list[int]] = []
    singles: list[int] = []

    async def handle_batch(items: list[Body]) -> None:
        batches.append([b.n for b in items])
        raise ValueError("one of them is bad")

    async def handle(b: Body) -> None:
        singles.append(b.n)
        if b.n == 2:
            raise ValueError("bad")

    records = (
        Raw(b'{"n": 1}', offset=1),
        Raw(b"not json", offset=2),
        Raw(b'{"n": 2}', offset=3),
        Raw(b'{"n": 3}', offset=4),
    )
    msg = Msg(records)  # type: ignore[arg-type]
    for _ in range(SETTINGS.max_attempts - 1):
        with pytest.raises(ValueError):  # the bad one fails: NACK re-seeks to the batch start
            await deliver_batch(
                msg,
                parse=Body.model_validate_json,
                handle_batch=handle_batch,
                handle=handle,  # type: ignore[arg-type]
                dead_letters=dlq,
                tracker=tracker,
                settings=SETTINGS,
            )
    await deliver_batch(
        msg,
        parse=Body.model_validate_json,
        handle_batch=handle_batch,
        handle=handle,  # type: ignore[arg-type]
        dead_letters=dlq,
        tracker=tracker,
        settings=SETTINGS,
    )
    assert batches[0] == [1, 2, 3]  # the poison never reaches a handler
    assert singles[-2:] == [2, 3]  # last round: 2 dead-lettered, then 3 handled
    reasons = sorted((d["offset"], d["attempts"]) for d in dlq.sent)
    assert reasons == [(2, 1), (3, SETTINGS.max_attempts)]  # the unparsable one once, not once per retry


async def test_batch_poison_is_dead_lettered_once_when_an_outage_re_seeks_the_batch() -> None:
    """A transient failure re-seeks to the batch start: its poison must not be dead-lettered (quarantined) twice."""
    from psp_common.kafka import deliver_batch

    dlq, calls = FakeDeadLetters(), []

    async def handle_batch(items: list[Body]) -> None:
        calls.append([b.n for b in items])
        if len(calls) == 1:
            raise OperationalError("COMMIT", {}, ConnectionResetError())

    async def handle(b: Body) -> None:
        raise AssertionError("no per-message fallback")

    msg = Msg((Raw(b'{"n": 1}', offset=1), Raw(b"not json", offset=2)))  # type: ignore[arg-type]
    kwargs: dict[str, Any] = dict(parse=Body.model_validate_json, handle_batch=handle_batch, handle=handle)
    with pytest.raises(OperationalError):
        await deliver_batch(msg, dead_letters=dlq, tracker=RetryTracker(), settings=SETTINGS, **kwargs)  # type: ignore[arg-type]
    assert dlq.sent == []  # not yet: the batch will be read again
    await deliver_batch(msg, dead_letters=dlq, tracker=RetryTracker(), settings=SETTINGS, **kwargs)  # type: ignore[arg-type]
    assert calls == [[1], [1]]
    assert [(d["offset"], d["attempts"]) for d in dlq.sent] == [(2, 1)]


async def test_batch_outage_is_retried_whole() -> None:
    from psp_common.kafka import deliver_batch

    dlq = FakeDeadLetters()

    async def handle_batch(items: list[Body]) -> None:
        raise OperationalError("COMMIT", {}, ConnectionResetError())

    async def handle(b: Body) -> None:
        raise AssertionError("no per-message fallback during an outage")

    with pytest.raises(OperationalError):
        await deliver_batch(
            Msg((Raw(b'{"n": 1}'),)),
            parse=Body.model_validate_json,  # type: ignore[arg-type]
            handle_batch=handle_batch,
            handle=handle,
            dead_letters=dlq,  # type: ignore[arg-type]
            tracker=RetryTracker(),
            settings=SETTINGS,
        )
    assert dlq.sent == []
