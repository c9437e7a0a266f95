"""A consumed record reaches its handler without a hop through a worker thread.

FastStream (fast_depends) resolves a synchronous dependency such as ``Context("message")`` in anyio's thread
pool on every call: a thread hand-over and back per record (or per batch) on the hot path. The subscribers take
FastStream's message as their only argument instead.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel

from psp_common.kafka import DeadLetters, subscribe_raw
from psp_common.settings import ServiceSettings


class Body(BaseModel):
    n: int


@pytest.mark.parametrize("batch_max", [1, 100])
async def test_records_are_handled_without_a_worker_thread(monkeypatch: pytest.MonkeyPatch, batch_max: int) -> None:
    hops: list[Any] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kw: Any) -> Any:
        hops.append(func)
        return await real(func, *args, **kw)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    broker = KafkaBroker("127.0.0.1:1")
    seen: list[int] = []

    async def handle(body: Body) -> None:
        seen.append(body.n)

    async def handle_batch(bodies: list[Body]) -> None:
        seen.extend(b.n for b in bodies)

    subscribe_raw(
        broker,
        topic="t",
        group_id="g",
        parse=Body.model_validate_json,
        handle=handle,
        handle_batch=handle_batch,
        dead_letters=DeadLetters(broker, "test"),
        settings=ServiceSettings(kafka_batch_max=batch_max),
    )
    async with TestKafkaBroker(broker) as br:
        for n in (1, 2, 3):
            await br.publish(b'{"n": %d}' % n, "t")
    assert seen == [1, 2, 3]
    assert hops == []
