"""No channel can stall paging: each send has one overall deadline shorter than its lease, sends to different
people run independently, and the timers run in their own loop (real drip-feeding server on a local socket)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import ValidationError

from psp_notification import consumed
from psp_notification.adapters.channels import ChannelRouter, ConsoleChannel, TransportError
from psp_notification.adapters.repository import Repository
from psp_notification.adapters.webhook import WebhookChannel
from psp_notification.bootstrap import webhook_client
from psp_notification.settings import ChannelConfig, NotificationSettings
from tests.notification.raw_servers import RawServer, Talk, drip, raw_server, read_request
from tests.notification.support import Env, app_env, matched
from tests.notification.test_channels_real import MESSAGE, SECRET

DEADLINE = 3.0
PATIENCE = 60.0  # bounds a wait that only fails if the awaited thing never happens (not a timing check)


async def _value(result: bool | Awaitable[bool]) -> bool:
    return await result if inspect.isawaitable(result) else result


async def within(seconds: float, check: Callable[[], bool | Awaitable[bool]]) -> float:
    """Poll ``check`` until true; return how long it took (fails after ``seconds``)."""
    start = time.monotonic()
    while not await _value(check()):
        assert time.monotonic() - start < seconds, "condition not met in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def test_the_send_deadline_must_fit_in_the_lease() -> None:
    with pytest.raises(ValidationError, match="channel_send_deadline_s must be at most half of send_lease_s"):
        NotificationSettings(channel_send_deadline_s=61, send_lease_s=120)
    assert NotificationSettings().channel_send_deadline_s * 2 <= NotificationSettings().send_lease_s


async def test_a_drip_feeding_webhook_is_cut_at_the_deadline_and_the_next_channel_is_tried() -> None:
    settings = NotificationSettings(env="dev", webhook_timeout_s=10)  # each byte comes well within 10 s
    async with raw_server(drip) as server, webhook_client(settings) as client:
        hook = WebhookChannel(client, SECRET, retries=3, backoff_s=0.1)
        router = ChannelRouter([hook, ConsoleChannel()], deadline_s=DEADLINE)
        webhook = ChannelConfig(kind="webhook", address=f"{server.url}/hook")
        start = time.monotonic()
        with pytest.raises(TransportError, match="deadline") as err:
            await router.deliver(MESSAGE, [webhook])
        took = time.monotonic() - start
        assert DEADLINE - 0.2 <= took <= DEADLINE + 2 and not err.value.permanent  # retried in a later round
        assert await router.deliver(MESSAGE, [webhook, ChannelConfig(kind="console")]) == "console"
        await within(2, lambda: len(server.closed) == 2)  # both slow connections were dropped


async def _sent_to(env: Env, ref: str) -> bool:
    return any(p["recipient_ref"] == ref and p["state"] == "sent" for p in await env.pages())


def hold_then_drip(release: asyncio.Event, hung_up: list[bool]) -> Talk:
    """First connection: take the request and answer nothing until ``release``, then hang up (``hung_up`` records
    whether the client had given up before that). Later connections drip (see ``drip``)."""

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        if len(server.opened) > 1:
            return await drip(reader, writer, server)
        server.first_bytes.append(await read_request(reader))
        await release.wait()
        hung_up.append(reader.at_eof())

    return talk


@pytest.mark.postgres
async def test_a_slow_webhook_delays_neither_other_pages_nor_the_ack_timer(pg_url: str) -> None:
    """The slow send is held open by the test (no timing involved) while the other pages and the ack timer must
    get through; released, it fails and is retried, and that retry is cut at the channel deadline."""
    overrides: dict[str, Any] = {
        "env": "dev",
        "channel_send_deadline_s": 600,  # never reached while the first send is held; shortened for the retry
        "webhook_timeout_s": 600,
        "send_lease_s": 3600,  # the fake clock jumps 31 minutes below; the slow page's lease must still hold
        "dispatch_poll_s": 0.2,
        "timer_poll_s": 0.2,
        "webhook_retries": 0,
    }
    release, hung_up = asyncio.Event(), list[bool]()
    async with raw_server(hold_then_drip(release, hung_up)) as server, app_env(pg_url, **overrides) as env:
        settings = env.c.settings
        hooks = webhook_client(settings)
        router = env.c.dispatcher.router
        router.channels["webhook"] = WebhookChannel(hooks, SECRET, retries=0, backoff_s=0)
        async with env.c.runtime.uow() as uow:
            webhook = {"kind": "webhook", "address": f"{server.url}/hook"}
            await Repository(uow.session).save_contact("ps_slow", "k1", [webhook], env.clock.now())
            await uow.commit()
        # ps_x was paged earlier; its ack window runs out while the slow send below is in flight.
        await env.handle(consumed.matched, matched(primary="ps_x", backups=("ps_y",)), settings, env.clock.now())
        assert await env.tick() == 1
        for ref in ("ps_slow", "ps_b", "ps_c"):
            await env.handle(consumed.matched, matched(primary=ref, backups=()), settings, env.clock.now())

        task = asyncio.create_task(env.c.dispatcher.run())
        try:
            await within(PATIENCE, lambda: len(server.first_bytes) == 1)  # the slow send is under way, held
            await within(PATIENCE, lambda: _sent_to(env, "ps_b"))  # sent AND marked while it is held
            await within(PATIENCE, lambda: _sent_to(env, "ps_c"))
            env.clock.advance(minutes=31)  # ps_x's ack window is over: the timer pages ps_y
            await within(PATIENCE, lambda: _sent_to(env, "ps_y"))
            assert await _state_of(env) == ("sending", 1) and not server.closed, "the slow send ended early"

            release.set()  # the receiver hangs up without an answer: the page waits for its retry
            await within(PATIENCE, lambda: _state_is(env, ("pending", 1)))
            assert hung_up == [False], "the client gave up on the held send before it was released"
            router.deadline_s = DEADLINE
            env.clock.advance(seconds=settings.send_retry_s + 1)  # the retry is due: it meets the dripping receiver
            await within(PATIENCE, lambda: _state_is(env, ("pending", 2)))
            await within(PATIENCE, lambda: len(server.closed) == 2)  # the receiver notices the hang-up at its next byte
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await hooks.aclose()
        slow = next(p for p in await env.pages() if p["recipient_ref"] == "ps_slow")
        assert "deadline" in slow["last_error"]
        assert server.written < 20  # cut long before its 200-odd bytes arrived (one every 0.5 s)


async def _state_of(env: Env) -> tuple[str, int]:
    slow = next(p for p in await env.pages() if p["recipient_ref"] == "ps_slow")
    return slow["state"], slow["attempts"]


async def _state_is(env: Env, expected: tuple[str, int]) -> bool:
    return await _state_of(env) == expected
