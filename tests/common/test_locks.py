"""Advisory locks on PostgreSQL: overlapping sets wait instead of deadlocking; a deadlock PostgreSQL breaks is
a lost race to retry, never a poison message."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from psp_common.db import make_engine
from psp_common.kafka import is_transient
from psp_common.locks import lock_all, lock_key, lost_race, try_lock

pytestmark = [pytest.mark.postgres]


def test_lock_keys_are_stable_signed_64_bit_and_distinct() -> None:
    assert lock_key("psp.outbox:outbox") == lock_key("psp.outbox:outbox")
    assert lock_key("rules.person:a") != lock_key("rules.person:b")
    assert all(-(2**63) <= lock_key(n) < 2**63 for n in ("a", "b", "psp.outbox:outbox"))


async def test_overlapping_lock_sets_in_any_order_wait_for_each_other_instead_of_deadlocking(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.begin()
            await second.begin()
            await lock_all(first, ["a", "b", "a"])
            assert not await try_lock(second, "b")  # held by the first transaction
            waiting = asyncio.create_task(lock_all(second, ["b", "a"]))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await first.commit()  # transaction-scoped: released here
            await asyncio.wait_for(waiting, 5)
            assert await try_lock(second, "a")  # re-entrant for its holder
            await second.rollback()
    finally:
        await engine.dispose()


async def test_a_deadlock_is_a_lost_race_that_consumers_retry_not_a_poison_message(pg_url: str) -> None:
    engine = make_engine(pg_url)
    grab = text("SELECT pg_advisory_xact_lock(:k)")
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.begin()
            await second.begin()
            await first.execute(grab, {"k": 1})
            await second.execute(grab, {"k": 2})
            results = await asyncio.gather(
                first.execute(grab, {"k": 2}), second.execute(grab, {"k": 1}), return_exceptions=True
            )
            [error] = [r for r in results if isinstance(r, BaseException)]
            assert isinstance(error, DBAPIError)
            assert lost_race(error) and is_transient(error)
    finally:
        await engine.dispose()
    assert not lost_race(ValueError("x")) and not is_transient(ValueError("x"))


async def test_a_request_whose_transaction_postgresql_aborted_for_a_deadlock_answers_503_retry(pg_url: str) -> None:
    import httpx
    from fastapi import FastAPI

    from psp_common.http import install_error_handlers

    engine = make_engine(pg_url)
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/rematch")
    async def rematch() -> dict[str, str]:
        async with engine.begin() as conn:  # PostgreSQL picks this transaction as the deadlock victim
            await conn.execute(text("DO $$ BEGIN RAISE EXCEPTION 'victim' USING ERRCODE = '40P01'; END $$"))
        return {}

    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post("/rematch")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "victim" not in r.text
    finally:
        await engine.dispose()
