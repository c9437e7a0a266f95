"""Dispatcher pacing: pages go to channels concurrently, each once; the minutes-scale timers run every
``timer_poll_s`` in their own loop, not on every wake-up."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from psp_notification import consumed
from psp_notification.adapters.channels import PageMessage
from tests.notification.support import FakeChannel, app_env, matched


class SlowChannel(FakeChannel):
    """A console channel that takes 100 ms per page and records how many were in flight at once."""

    in_flight: int = 0
    most: int = 0

    async def notify(self, message: PageMessage, address: str) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.1)
            await super().notify(message, address)
        finally:
            self.in_flight -= 1


async def _page_many(env: Any, n: int) -> None:
    for i in range(n):
        await env.handle(consumed.matched, matched(primary=f"ps_s{i}"), env.c.settings, env.clock.now())


@pytest.mark.postgres
async def test_pages_are_sent_concurrently_and_once_on_postgres(pg_url: str) -> None:
    async with app_env(pg_url, dispatch_concurrency=4) as env:
        slow = SlowChannel("console")
        env.c.dispatcher.router.channels["console"] = slow
        await _page_many(env, 12)
        assert await env.tick() == 12
        assert 1 < slow.most <= 4
        keys = [m.idempotency_key for m, _ in slow.sent]
        assert len(keys) == 12 == len(set(keys))
        assert await env.tick() == 0


async def test_sqlite_also_sends_to_different_people_concurrently(sqlite_url: str) -> None:
    """Claims and marks are one transaction at a time in the dispatcher, so SQLite's one writer is no reason
    to send one page at a time (a slow channel would hold everyone's pages)."""
    async with app_env(sqlite_url, dispatch_concurrency=4) as env:
        slow = SlowChannel("console")
        env.c.dispatcher.router.channels["console"] = slow
        await _page_many(env, 3)
        assert await env.tick() == 3 and slow.most == 3


async def test_run_loop_wakes_for_pages_and_runs_timers_on_their_own_clock(sqlite_url: str) -> None:
    async with app_env(sqlite_url, dispatch_poll_s=60, timer_poll_s=3600) as env:
        d = env.c.dispatcher
        rounds: list[str] = []
        real_timers = d.timers

        async def counted(now: Any) -> None:
            rounds.append("timers")
            await real_timers(now)

        d.timers = counted  # type: ignore[method-assign]
        task = asyncio.create_task(d.run())
        try:
            for i in range(3):
                await _page_many(env, 1)
                d.wake()
                for _ in range(100):
                    if len(env.console.sent) > i:
                        break
                    await asyncio.sleep(0.02)
            assert len(env.console.sent) == 3  # each wake delivered at once (the poll is 60 s)
            assert rounds == ["timers"]  # once at start, not per wake-up
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.mark.postgres
async def test_a_chunk_is_claimed_and_marked_in_one_transaction_each(pg_url: str) -> None:
    from sqlalchemy import event as sa_event

    async with app_env(pg_url, dispatch_concurrency=8) as env:
        await _page_many(env, 6)
        env.console.failing = {""}  # the default console address: every page to console fails...
        env.console.crash = None
        commits: list[str] = []

        def count(_conn: Any) -> None:
            commits.append("commit")

        engine = env.c.runtime.engine.sync_engine
        sa_event.listen(engine, "commit", count)
        try:
            assert await env.c.dispatcher.deliver_due(env.clock.now()) == 0
        finally:
            sa_event.remove(engine, "commit", count)
        assert len(commits) == 2  # one claim, one mark, for six pages
        pages = await env.pages()
        assert [p["state"] for p in pages] == ["pending"] * 6  # each failure scheduled for a retry
        assert all(p["attempts"] == 1 and p["last_error"] and p["lease_until"] is None for p in pages)

        env.console.failing = set()
        env.clock.advance(minutes=30)
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            statements.append(" ".join(sql.split()[:2]))

        sa_event.listen(engine, "before_cursor_execute", seen)
        try:
            assert await env.c.dispatcher.deliver_due(env.clock.now()) == 6
        finally:
            sa_event.remove(engine, "before_cursor_execute", seen)
        # Six sent pages: read and leased in one statement, marked in one (which reads and locks their assignments
        # too); their cases moved in one.
        assert statements.count("WITH due") == 1 and statements.count("WITH rec") == 1, statements
        assert not any(s.startswith(("UPDATE pages", "SELECT assignments")) for s in statements), statements
        assert statements.count("UPDATE cases") == 1, statements
        assert [p["state"] for p in await env.pages()] == ["sent"] * 6
        notified = [s for s, _ in await env.statuses() if s == "notified"]
        assert len(notified) == 6


@pytest.mark.postgres
async def test_an_unexpected_fault_in_one_page_leaves_the_rest_of_the_chunk_marked(pg_url: str) -> None:
    async with app_env(pg_url, dispatch_concurrency=8) as env:
        await _page_many(env, 3)
        env.console.crash = RuntimeError("bug in a channel")  # the first send raises, the others go through
        assert await env.tick() == 2
        states = sorted(p["state"] for p in await env.pages())
        assert states == ["pending", "sent", "sent"]


async def test_by_default_a_backlog_of_64_pages_goes_out_in_one_round(sqlite_url: str) -> None:
    """One claim for 64 pages, all handed to channels at once (rounds of 8 capped a replay's end at ~26 pages/s);
    the claims after it find nothing (the first was cut at its limit: more pages might have been due)."""
    async with app_env(sqlite_url) as env:
        slow = SlowChannel("console")
        env.c.dispatcher.router.channels["console"] = slow
        await _page_many(env, 64)
        delivery = env.c.dispatcher.delivery
        real_settle, leased = delivery.settle, []

        async def settle(*args: Any, **kwargs: Any) -> Any:
            done = await real_settle(*args, **kwargs)
            if done.tried:
                leased.append(done.leased)
            return done

        delivery.settle = settle  # type: ignore[method-assign]
        assert await env.c.dispatcher.deliver_due(env.clock.now()) == 64
        assert slow.most == 64
        assert leased[0] == 64 and sum(leased) == 64  # then claims that find nothing more


async def test_one_call_sends_every_due_page_beyond_one_read(sqlite_url: str) -> None:
    """Due pages are read 50 at a time (here: 2 x 4 slots < 50); a call goes on reading while a read came back
    full. The delivery loop sleeps until a page is written or falls due, so pages left due after a call waited
    up to dispatch_idle_s: a 3,000-report replay stalled at 5 pages/s."""
    async with app_env(sqlite_url, dispatch_concurrency=4) as env:
        await _page_many(env, 60)
        assert await env.c.dispatcher.deliver_due(env.clock.now()) == 60
        assert len(env.console.sent) == 60
