"""What a webhook page costs the sender: one write per request (a request's head and body in one system call and
one TCP segment), and no reconnecting under load (a host's connections are all kept alive)."""

from __future__ import annotations

import asyncio
from asyncio import selector_events
from typing import Any

import pytest

from psp_notification.adapters.egress import EgressPolicy, GuardedClient
from psp_notification.adapters.webhook import WebhookChannel
from tests.notification.raw_servers import keep_answering, raw_server
from tests.notification.test_channels_real import MESSAGE, SECRET


async def local(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


async def test_each_webhook_request_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[bytes] = []
    transport = selector_events._SelectorSocketTransport
    write, writelines = transport.write, transport.writelines

    def to_receiver(self: Any) -> bool:
        peer = self.get_extra_info("peername")
        return bool(peer) and peer[1] == port

    def spy_write(self: Any, data: Any) -> None:
        if to_receiver(self):
            writes.append(bytes(data))
        write(self, data)

    def spy_writelines(self: Any, chunks: Any) -> None:
        chunks = list(chunks)
        if to_receiver(self):
            writes.append(b"".join(chunks))
        writelines(self, chunks)

    monkeypatch.setattr(transport, "write", spy_write)
    monkeypatch.setattr(transport, "writelines", spy_writelines)
    async with raw_server(keep_answering) as listener, GuardedClient(EgressPolicy(production=False), local) as client:
        port = listener.port
        channel = WebhookChannel(client, SECRET, retries=0, backoff_s=0)
        for _ in range(2):
            await channel.notify(MESSAGE, f"http://a.hooks.test:{listener.port}/hook")
    assert len(listener.opened) == 1 and len(writes) == 2  # two pages on one connection, one write each
    assert all(w.startswith(b"POST /hook") and w.endswith(b"}") for w in writes)


async def test_a_burst_to_one_host_reuses_its_connections() -> None:
    """64 pages at once to one host, twice: at most 16 connections, all kept (none reopened for the second)."""
    async with raw_server(keep_answering) as listener, GuardedClient(EgressPolicy(production=False), local) as client:
        channel = WebhookChannel(client, SECRET, retries=0, backoff_s=0)
        url = f"http://a.hooks.test:{listener.port}/hook"
        await asyncio.gather(*(channel.notify(MESSAGE, url) for _ in range(64)))
        first = len(listener.opened)
        await asyncio.gather(*(channel.notify(MESSAGE, url) for _ in range(64)))
    assert 1 <= first <= 16 and len(listener.opened) == first
    assert len(listener.first_bytes) == 128
