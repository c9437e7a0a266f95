"""A minimal HTTP/1.1 receiver for the notification service's webhook pages (keep-alive, records arrival)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
BAD = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
MAX_BODY = 1 << 20


class WebhookReceiver:
    """Records ``{Idempotency-Key: first arrival time}``; answers 200 to every well-formed request."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.arrivals: dict[str, float] = {}
        self.requests = 0
        self._clock = clock
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> WebhookReceiver:
        """Listen on loopback."""
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        """Address to register as a webhook channel."""
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        """Close the listening socket."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = self._clock()
                headers = parse_headers(head)
                length = int(headers.get("content-length", "0") or 0)
                if length < 0 or length > MAX_BODY:
                    writer.write(BAD)
                    break
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                key = headers.get("idempotency-key")
                if key and key not in self.arrivals:
                    self.arrivals[key] = now
                writer.write(OK)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


def parse_headers(head: bytes) -> dict[str, str]:
    """Lower-cased header names to values from a raw request head (request line skipped)."""
    out: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            out[name.strip().lower()] = value.strip()
    return out
