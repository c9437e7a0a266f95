"""An idle dispatcher sleeps: the timers wake when the next deadline runs out (on time), the deliveries when a
page is written or the next one falls due; with nothing to do each loop wakes once per its long cap.

Time is the manual clock: the loops' pause is replaced by one that advances it by the requested wait.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from psp_notification import consumed
from tests.notification.support import T0, Env, app_env, matched


class Stop(Exception):
    """Ends a simulated period."""


def simulated(env: Env, until: datetime, waits: list[float]) -> Any:
    """A pause that records the wait, advances the clock by it and stops the loop at ``until``."""

    async def pause(_wake: asyncio.Event | None, seconds: float) -> None:
        waits.append(seconds)
        env.clock.advance(seconds=seconds)
        if env.clock.now() >= until:
            raise Stop

    return pause


async def run_until(env: Env, loop: Any, until: datetime) -> list[float]:
    waits: list[float] = []
    env.c.dispatcher.pause = simulated(env, until, waits)  # type: ignore[method-assign]
    with pytest.raises(Stop):
        await loop()
    return waits


async def page_primary(env: Env) -> None:
    await env.handle(consumed.matched, matched(), env.c.settings, env.clock.now())
    assert await env.tick() == 1  # the primary is paged at T0: its ack window runs out at T0 + 30 min


async def test_timers_sleep_until_the_ack_deadline_and_the_backup_is_paged_on_time(sqlite_url: str) -> None:
    async with app_env(sqlite_url, ack_window_minutes=30, timer_poll_s=3600) as env:
        await page_primary(env)
        expired: list[datetime] = []
        real = env.c.dispatcher.expire_unanswered

        async def watched(now: datetime) -> None:
            before = len(await env.pages())
            await real(now)
            if len(await env.pages()) > before:
                expired.append(now)

        env.c.dispatcher.expire_unanswered = watched  # type: ignore[method-assign]
        waits = await run_until(env, env.c.dispatcher.run_timers, T0 + timedelta(hours=2))
        assert waits[0] == 30 * 60  # straight to the deadline, no poll in between
        assert expired == [T0 + timedelta(minutes=30)]  # the backup was paged exactly when the window ran out
        assert len(waits) == 3  # deadline, then the hour's cap twice: 3 wake-ups in 2 h (5 s polls: 1,440)


async def test_idle_timers_wake_once_per_cap(sqlite_url: str) -> None:
    async with app_env(sqlite_url, timer_poll_s=60) as env:
        waits = await run_until(env, env.c.dispatcher.run_timers, T0 + timedelta(hours=1))
        assert waits == [60.0] * 60


async def test_deliveries_sleep_until_a_failed_page_is_due_again(sqlite_url: str) -> None:
    async with app_env(sqlite_url, dispatch_idle_s=3600) as env:
        await env.handle(consumed.matched, matched(), env.c.settings, env.clock.now())
        env.console.failing = {""}
        assert await env.tick() == 0
        (page,) = await env.pages()
        retry_at = page["due_at"].replace(tzinfo=T0.tzinfo)
        assert retry_at > T0
        env.console.failing = set()
        sent: list[datetime] = []
        real = env.c.dispatcher.deliver_due

        async def watched(now: datetime) -> int:
            n = await real(now)
            sent.extend([now] * n)
            return n

        env.c.dispatcher.deliver_due = watched  # type: ignore[method-assign]
        waits = await run_until(env, env.c.dispatcher.run_deliveries, T0 + timedelta(hours=1))
        assert waits[0] == (retry_at - T0).total_seconds()  # no poll before the retry is due
        assert sent == [retry_at]  # sent when due, not a poll interval later
        assert len(waits) == 2  # then asleep for the rest of the hour (0.5 s polls: 7,200 wake-ups)


async def test_idle_deliveries_wake_once_per_cap(sqlite_url: str) -> None:
    async with app_env(sqlite_url, dispatch_idle_s=60) as env:
        waits = await run_until(env, env.c.dispatcher.run_deliveries, T0 + timedelta(hours=1))
        assert waits == [60.0] * 60
