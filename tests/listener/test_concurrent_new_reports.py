"""Two batches naming the same new report at once (PostgreSQL): the second waits on the first's insert
(INSERT .. ON CONFLICT DO NOTHING RETURNING), does not fail on the primary key, and publishes nothing twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence

import pytest
from sqlalchemy import select, text

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_listener import handlers
from psp_listener.adapters.orm import metadata, outbox, reports
from psp_listener.bootstrap import MIGRATIONS
from psp_listener.domain.model import Disposition, Outcome
from psp_listener.settings import ListenerSettings
from tests.listener.conftest import make_normalizer
from tests.listener.test_intake_foundation import report

pytestmark = pytest.mark.postgres

Stage = Callable[[Sequence[str], UnitOfWork], Awaitable[list[Outcome]]]
_NORM = make_normalizer()


async def _incidents(ids: Sequence[str], uow: UnitOfWork) -> list[Outcome]:
    return await handlers.stage_batch([_NORM.parse_native(json.dumps(report(i)).encode()) for i in ids], uow)


async def _referrals(ids: Sequence[str], uow: UnitOfWork) -> list[Outcome]:
    body = {"kind": "self", "facility": "GEN", "urgency": "today", "person": {"staff_id": "E1"}}
    events = [_NORM.parse_referral(json.dumps({**body, "referral_id": i}).encode()) for i in ids]
    return await handlers.stage_referrals(events, uow)


async def _blocked_by(rt: Runtime, pid: int, second: asyncio.Task[list[Outcome]]) -> None:
    """Wait until a backend waits on a lock ``pid`` holds (the second batch's insert), or fail if it finished."""
    while not second.done():
        async with rt.session() as s:
            waiting = (
                await s.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE :p = ANY(pg_blocking_pids(pid))"), {"p": pid}
                )
            ).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"the second batch did not wait on the first's uncommitted insert: {second.result()}")


@pytest.mark.parametrize(
    "stage,topic", [(_incidents, topics.INCIDENT_OBSERVED), (_referrals, topics.REFERRAL_OBSERVED)]
)
@pytest.mark.parametrize("first_commits", [True, False])
async def test_a_new_report_in_two_concurrent_batches_is_stored_and_published_once(
    pg_url: str, stage: Stage, topic: str, first_commits: bool
) -> None:
    await upgrade_async(MIGRATIONS, pg_url)
    rt = Runtime(ListenerSettings(database_url=pg_url), metadata, MIGRATIONS)

    async def second_batch() -> list[Outcome]:
        async with rt.uow() as uow:
            outcomes = await stage(["SAME", "ONLY-B"], uow)
            await uow.commit()
            return outcomes

    try:
        async with rt.uow() as first:
            (mine,) = await stage(["SAME"], first)
            assert mine.disposition is Disposition.ACCEPTED
            pid = (await first.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            second = asyncio.create_task(second_batch())
            await _blocked_by(rt, pid, second)  # the second insert waits on ours: no error, no answer yet
            assert not second.done()
            if first_commits:
                await first.commit()
        theirs = await second  # raises if the second batch failed (e.g. on the primary key)
        expected = Disposition.DUPLICATE if first_commits else Disposition.ACCEPTED
        assert [o.disposition for o in theirs] == [expected, Disposition.ACCEPTED]
        async with rt.session() as s:
            stored = list((await s.execute(select(reports.c.incident_ref))).scalars())
            published = [
                json.loads(p)
                for p in (await s.execute(select(outbox.c.payload).where(outbox.c.topic == topic))).scalars()
            ]
        assert sorted(stored) == sorted([mine.incident_ref, theirs[1].incident_ref])
        assert len(published) == 2, "the report both batches named was published twice (or not at all)"
    finally:
        await rt.engine.dispose()
