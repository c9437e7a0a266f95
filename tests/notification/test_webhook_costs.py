"""What a webhook page costs the sender: one write per request (httpcore writes a request's head and body
separately: two system calls and two TCP segments per page), and no reconnecting under load (a host's connections
are all kept alive)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpcore
import httpx

from psp_notification.adapters.coalesce import CoalescingBackend, CoalescingStream
from psp_notification.adapters.egress import EgressPolicy, GuardedTransport
from psp_notification.adapters.webhook import WebhookChannel
from tests.notification.raw_servers import keep_answering, raw_server
from tests.notification.test_channels_real import MESSAGE, SECRET


class Recording(httpcore.AsyncNetworkStream):
    """A stream that records its writes and answers reads from a script."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream
        self.writes: list[bytes] = []

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.writes.append(buffer)
        if self.stream is not None:
            await self.stream.write(buffer, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.stream.read(max_bytes, timeout) if self.stream is not None else b"answer"

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info) if self.stream is not None else None


class RecordingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self.backend = backend
        self.streams: list[Recording] = []

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        stream = Recording(await self.backend.connect_tcp(*args, **kwargs))
        self.streams.append(stream)
        return stream


async def test_writes_are_held_until_the_next_read_and_sent_together() -> None:
    inner = Recording()
    stream = CoalescingStream(inner)
    await stream.write(b"POST /hook HTTP/1.1\r\n\r\n")
    await stream.write(b"")
    await stream.write(b"{}")
    assert inner.writes == []
    assert await stream.read(100) == b"answer"
    assert inner.writes == [b"POST /hook HTTP/1.1\r\n\r\n{}"]
    assert await stream.read(100) == b"answer" and len(inner.writes) == 1  # nothing more to send


async def test_each_webhook_request_is_one_write_on_the_guarded_transport() -> None:
    async def local(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with raw_server(keep_answering) as listener:
        transport = GuardedTransport(EgressPolicy(production=False), resolver=local)
        async with httpx.AsyncClient(transport=transport) as client:
            channel = WebhookChannel(client, SECRET, retries=0, backoff_s=0)
            await channel.notify(MESSAGE, f"http://a.hooks.test:{listener.port}/hook")  # makes the host's pool
            [pool] = transport._pools.values()
            backend = pool._pool._network_backend
            assert isinstance(backend, CoalescingBackend)
            recorder = backend._backend = RecordingBackend(backend._backend)
            await pool._pool.aclose()  # the next request connects through the recorder
            for _ in range(2):
                await channel.notify(MESSAGE, f"http://a.hooks.test:{listener.port}/hook")
    [stream] = recorder.streams
    assert len(stream.writes) == 2  # two pages, one write each
    assert all(w.startswith(b"POST /hook") and w.endswith(b"}") for w in stream.writes)


async def test_a_burst_to_one_host_reuses_its_connections() -> None:
    """64 pages at once to one host, twice: at most 16 connections, all kept (32 open and 8 kept reconnected)."""

    async def local(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with raw_server(keep_answering) as listener:
        transport = GuardedTransport(EgressPolicy(production=False), resolver=local)
        async with httpx.AsyncClient(transport=transport) as client:
            channel = WebhookChannel(client, SECRET, retries=0, backoff_s=0)
            url = f"http://a.hooks.test:{listener.port}/hook"
            for _ in range(2):
                await asyncio.gather(*(channel.notify(MESSAGE, url) for _ in range(64)))
    assert len(listener.opened) <= 16
