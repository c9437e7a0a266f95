"""A subscription given only its set-based handler decides one event with it too (a list of one): with batching
off, and when a failed batch falls back to one event at a time, where a poison event is dead-lettered alone."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from psp_common.db import UnitOfWork
from psp_common.kafka import subscribe_events
from psp_common.settings import ServiceSettings
from tests.clock import TEST_NOW
from tests.common.test_delivery_unit import FakeDeadLetters
from tests.common.test_inbox_batch import Env, FakeBroker, Msg, Ping, Raw, env, url  # noqa: F401  (fixtures)


def ping(event_id: UUID, act: bool = True) -> bytes:
    return Ping(event_id=event_id, occurred_at=TEST_NOW, correlation_id=uuid4(), act=act).model_dump_json().encode()


def subscribed(
    env: Env,  # noqa: F811
    settings: ServiceSettings,
    calls: list[list[str]],
    bad: UUID | None = None,
) -> tuple[FakeBroker, FakeDeadLetters]:
    """A subscription with only ``handler_many`` (which records each call and fails on a list holding ``bad``)."""
    broker, dead = FakeBroker(), FakeDeadLetters()

    async def handler_many(events: list[Ping], uow: UnitOfWork) -> None:
        calls.append([str(e.event_id) for e in events])
        if bad in {e.event_id for e in events}:
            raise ValueError("bad event")

    subscribe_events(
        broker,  # type: ignore[arg-type]
        topic="t",
        group_id="g",
        model=Ping,
        handler_many=handler_many,
        uow_factory=env.uow,
        settings=settings,
        dead_letters=dead,  # type: ignore[arg-type]
        relevant=lambda e: e.act,
    )
    return broker, dead


async def test_with_batching_off_each_event_goes_to_the_set_based_handler_as_a_list_of_one(env: Env) -> None:  # noqa: F811
    calls: list[list[str]] = []
    broker, _ = subscribed(env, ServiceSettings(kafka_batch_max=1), calls)
    assert broker.consume is not None
    a, b = uuid4(), uuid4()
    await broker.consume(Msg(Raw(ping(a), 1)))
    await broker.consume(Msg(Raw(ping(a), 2)))  # redelivered: the inbox skips it
    await broker.consume(Msg(Raw(ping(uuid4(), act=False), 3)))  # not for us: no call, no inbox row
    await broker.consume(Msg(Raw(ping(b), 4)))
    assert calls == [[str(a)], [str(b)]]
    assert await env.inbox_ids() == {str(a), str(b)}


async def test_a_failed_batch_falls_back_to_lists_of_one_and_dead_letters_only_the_poison(env: Env) -> None:  # noqa: F811
    calls: list[list[str]] = []
    a, bad, b = uuid4(), uuid4(), uuid4()
    settings = ServiceSettings(kafka_batch_max=50, max_attempts=2, retry_backoff_s=0.0)
    broker, dead = subscribed(env, settings, calls, bad)
    assert broker.consume is not None
    batch = Msg([Raw(ping(a), 1), Raw(ping(bad), 2), Raw(ping(b), 3)])
    with pytest.raises(ValueError):  # first attempt at the poison: NACK re-seeks to the batch start
        await broker.consume(batch)
    await broker.consume(batch)  # second attempt: the poison is dead-lettered, the rest handled
    assert calls == [
        [str(a), str(bad), str(b)],  # the batch fails...
        [str(a)],  # ... so each event alone, through the same handler
        [str(bad)],
        [str(bad), str(b)],  # redelivered: a is done (inbox)
        [str(bad)],
        [str(b)],
    ]
    assert [(d["offset"], d["attempts"]) for d in dead.sent] == [(2, settings.max_attempts)]
    assert await env.inbox_ids() == {str(a), str(b)}  # the poison's transaction rolled back
