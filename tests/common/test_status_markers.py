"""A status subscription that acts on a few statuses reads the others unparsed: a record without any of its
markers (the JSON strings of the statuses it wants) is acknowledged without validating it in full only to
reject it. Every status's JSON holds its own marker, so no event the filter accepts is skipped."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from psp_common.db import UnitOfWork, make_engine
from psp_common.events.status import OutreachStatus, OutreachStatusChanged, status_marker
from psp_common.kafka import subscribe_events
from psp_common.settings import ServiceSettings
from tests.clock import TEST_NOW
from tests.common.test_inbox_batch import Env, FakeBroker, Msg, Raw
from tests.support import one_by_one


def status(value: OutreachStatus, detail: str | None = None) -> OutreachStatusChanged:
    return OutreachStatusChanged(
        occurred_at=TEST_NOW,
        correlation_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        status=value,
        facility="GEN",
        unit="ICU",
        detail=detail,
    )


@pytest.mark.parametrize("value", list(OutreachStatus))
def test_a_statuss_json_holds_its_marker_and_no_other(value: OutreachStatus) -> None:
    body = status(value).model_dump_json().encode()
    assert [s for s in OutreachStatus if status_marker(s) in body] == [value]


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, body: bytes, **_kw: Any) -> None:
        self.sent.append(body)


@pytest.fixture
async def env(sqlite_url: str) -> AsyncIterator[Env]:
    engine = make_engine(sqlite_url)
    e = Env(engine)
    async with engine.begin() as conn:
        await conn.run_sync(e.metadata.create_all)
    try:
        yield e
    finally:
        await engine.dispose()


@pytest.mark.parametrize("batch_max", [1, 50])
async def test_records_without_a_marker_are_acknowledged_unparsed(
    env: Env, monkeypatch: pytest.MonkeyPatch, batch_max: int
) -> None:
    parsed: list[bytes] = []
    real = OutreachStatusChanged.model_validate_json

    def counting(data: bytes, *a: Any, **kw: Any) -> OutreachStatusChanged:
        parsed.append(data)
        return real(data, *a, **kw)

    monkeypatch.setattr(OutreachStatusChanged, "model_validate_json", counting)
    broker, dead, handled = FakeBroker(), DeadLetters(), []

    async def handler(e: OutreachStatusChanged, uow: UnitOfWork) -> None:
        handled.append(e.status)

    subscribe_events(
        broker,  # type: ignore[arg-type]
        topic="t",
        group_id="g",
        model=OutreachStatusChanged,
        handler_many=one_by_one(handler),
        uow_factory=env.uow,
        settings=ServiceSettings(kafka_batch_max=batch_max),
        dead_letters=dead,  # type: ignore[arg-type]
        relevant=lambda e: e.status is OutreachStatus.CLOSED,
        markers=(status_marker(OutreachStatus.CLOSED),),
    )
    closed = status(OutreachStatus.CLOSED).model_dump_json().encode()
    mentions = status(OutreachStatus.NOTIFIED, detail="closed").model_dump_json().encode()  # parsed, then rejected
    bodies = [status(OutreachStatus.NOTIFIED).model_dump_json().encode(), b'{"status": 1', mentions, closed]
    records = [Raw(body, offset) for offset, body in enumerate(bodies)]
    assert broker.consume is not None
    if batch_max == 1:
        for record in records:
            await broker.consume(Msg(record))
    else:
        await broker.consume(Msg(records))
    assert parsed == [mentions, closed]
    assert handled == [OutreachStatus.CLOSED]
    assert dead.sent == []  # the unreadable record lacks the marker: this subscription never reads it
    assert env.inserts == 1


def test_the_listener_and_rules_status_subscriptions_read_only_their_statuses() -> None:
    from psp_listener.entrypoints import consumers as listener
    from psp_rules.entrypoints import consumers as rules

    assert "markers=(status_marker(OutreachStatus.CLOSED),)" in inspect.getsource(rules.register)
    assert "markers=(status_marker(OutreachStatus.COLLEAGUE_UNKNOWN),)" in inspect.getsource(listener)
