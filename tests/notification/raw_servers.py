"""Misbehaving HTTP receivers on real local sockets (asyncio servers writing raw bytes)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

Talk = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


@dataclass
class RawServer:
    """Records each connection: when it opened and closed, what the client sent first, bytes written."""

    port: int = 0
    opened: list[float] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)
    first_bytes: list[bytes] = field(default_factory=list)
    written: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The request head and body (by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
    """Accept the request, then answer one byte every 0.5 s (each read succeeds; the answer never ends in time)."""
    server.first_bytes.append(await read_request(reader))
    answer = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 200 + b"\r\nContent-Length: 0\r\n\r\n"
    for byte in answer:
        if reader.at_eof():  # the client hung up
            return
        writer.write(bytes([byte]))
        await writer.drain()
        server.written += 1
        await asyncio.sleep(0.5)


async def endless_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
    """200 with a body that never ends (no length: it ends when the connection closes)."""
    server.first_bytes.append(await read_request(reader))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
    chunk = b"x" * 65536
    while not reader.at_eof():
        writer.write(chunk)
        await writer.drain()
        server.written += len(chunk)


async def keep_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
    """Answer 200 to every request on the connection until the client hangs up (HTTP/1.1 keep-alive)."""
    while not reader.at_eof():
        try:
            server.first_bytes.append(await read_request(reader))
        except asyncio.IncompleteReadError:
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()


async def hello_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
    """Record the first bytes (a TLS ClientHello carries the server name) and hang up."""
    server.first_bytes.append(await reader.read(4096))


@contextlib.asynccontextmanager
async def raw_server(talk: Talk) -> AsyncIterator[RawServer]:
    """Run ``talk`` for each connection on 127.0.0.1; yield the recorder."""
    state = RawServer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.opened.append(time.monotonic())
        try:
            await talk(reader, writer, state)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            state.closed.append(time.monotonic())
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)
