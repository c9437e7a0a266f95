"""One write per webhook request: httpcore writes a request's head and its body separately (two system calls,
two TCP segments, two wake-ups of the receiver). The streams of this backend hold what is written until the
connection next reads (the response) or upgrades to TLS, and send it in one write. A failed send surfaces on
that read, as a network error of the same request.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore


class CoalescingStream(httpcore.AsyncNetworkStream):
    """A network stream whose writes go out together, just before the next read."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._held: list[bytes] = []

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Hold ``buffer`` until the next read."""
        if buffer:
            self._held.append(buffer)

    async def flush(self, timeout: float | None = None) -> None:
        """Send what is held, in one write."""
        if self._held:
            data = b"".join(self._held)
            self._held = []
            await self._stream.write(data, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Send what is held, then read."""
        await self.flush(timeout)
        return await self._stream.read(max_bytes, timeout)

    async def aclose(self) -> None:
        """Close the connection (a request not read for was abandoned: what it held is dropped)."""
        self._held = []
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Upgrade the connection (after sending what is held)."""
        await self.flush(timeout)
        return CoalescingStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        """The underlying stream's (socket, addresses, whether it is readable)."""
        return self._stream.get_extra_info(info)


class CoalescingBackend(httpcore.AsyncNetworkBackend):
    """Wraps a backend's connections in ``CoalescingStream``."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A TCP connection whose writes are coalesced."""
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return CoalescingStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """A Unix socket connection whose writes are coalesced."""
        return CoalescingStream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        """The wrapped backend's sleep."""
        await self._backend.sleep(seconds)


def coalesce_writes(transport: Any) -> None:
    """Make an ``httpx.AsyncHTTPTransport``'s new connections coalesce their writes (its pool's backend)."""
    pool = transport._pool
    if not isinstance(pool._network_backend, CoalescingBackend):
        pool._network_backend = CoalescingBackend(pool._network_backend)
