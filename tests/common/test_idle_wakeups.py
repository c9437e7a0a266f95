"""An idle process sleeps: the HTTP server and the Kafka fetchers do not wake several times a second for nothing."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from psp_common import runtime
from psp_common.kafka.subscribe import FETCHER_SAFETY_NET_MS
from psp_common.quiet_server import QuietServer
from psp_common.settings import ServiceSettings
from tests.common.test_fetch_pacer import batch_subscriber, settings


def server(tick_s: float) -> QuietServer:
    config = uvicorn.Config(FastAPI(), host="127.0.0.1", port=0, log_config=None, lifespan="off")
    config.load()
    return QuietServer(config, tick_s=tick_s)


async def test_the_server_ticks_once_then_sleeps_until_asked_to_stop() -> None:
    quiet = server(tick_s=3600)
    loop = asyncio.create_task(quiet.main_loop())
    for _ in range(50):
        await asyncio.sleep(0)  # the loop runs on; uvicorn's own main loop would have gone round each 0.1 s
    assert quiet.ticks == 1 and any(name == b"date" for name, _ in quiet.server_state.default_headers)
    quiet.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(loop, 30)  # woken by the signal, not by the hour-long tick
    assert quiet.should_exit and quiet.ticks == 1


async def test_a_stop_asked_before_the_loop_starts_ends_it_at_once() -> None:
    quiet = server(tick_s=3600)
    quiet.handle_exit(signal.SIGINT, None)
    await asyncio.wait_for(quiet.main_loop(), 30)
    assert quiet.ticks == 0


def test_services_serve_on_the_quiet_server(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(QuietServer, "run", lambda self: ran.append(self))
    runtime.serve(FastAPI(), ServiceSettings(http_port=0))
    assert len(ran) == 1 and ran[0].tick_s >= 1


def test_a_subscribers_fetcher_waits_on_events_with_a_long_safety_net() -> None:
    sub = batch_subscriber(settings())
    assert sub._connection_args["consumer_timeout_ms"] == FETCHER_SAFETY_NET_MS >= 1000  # aiokafka's default: 200
