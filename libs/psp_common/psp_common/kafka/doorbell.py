"""A doorbell between the processes of one host: a relay that published to a topic wakes that topic's idle subscribers.

Tansu (the embedded broker of ``make run`` and the bench) does not answer a waiting fetch when records arrive: it
looks again at fixed points of the wait (measured: after half of a 500 ms wait, then a quarter), so a subscriber
idle on a long wait found the first report after quiet up to 250 ms late at each of the pipeline's three hops.
With a doorbell an idle subscriber keeps no fetch waiting at the broker; it sleeps until a relay of the same host
rings one of its topics (or, as a safety net for publishers that do not ring, ``idle_ms``), then fetches once.

Each listening process binds a Unix datagram socket in the shared directory; ringing sends the topic names to
every socket there. A ring is a hint, never the data: a lost one only costs the safety-net wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger("psp.kafka")

_names = itertools.count()


class Doorbell:
    """Rings (topics published) and listens (per-subscriber events) through one directory."""

    def __init__(self, directory: str | Path, quiet_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.directory = Path(directory)
        self.quiet_s = quiet_s  # a topic is rung at most once per this: a subscriber that got records stays awake
        self._clock = clock
        self._last: dict[str, float] = {}
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        self._listener: socket.socket | None = None
        self.path: Path | None = None
        self._events: dict[str, list[asyncio.Event]] = {}

    def ring(self, topics: Iterable[str]) -> int:
        """Tell every listening process that ``topics`` have new records; return how many sockets were told."""
        now = self._clock()
        due = sorted(t for t in set(topics) if now - self._last.get(t, -self.quiet_s) >= self.quiet_s)
        if not due:
            return 0
        for t in due:
            self._last[t] = now
        payload = "\n".join(due).encode()
        told = 0
        for path in self.directory.glob("*.sock"):
            try:
                self._sender.sendto(payload, str(path))
                told += 1
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    path.unlink()  # a stopped process's socket
            except OSError:
                pass  # a full queue: that process has rings to read already
        return told

    def event(self, topics: Iterable[str]) -> asyncio.Event:
        """An event set whenever one of ``topics`` is rung (by this or another process); one per subscriber."""
        self._listen()
        ev = asyncio.Event()
        for t in topics:
            self._events.setdefault(t, []).append(ev)
        return ev

    def _listen(self) -> None:
        if self._listener is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{os.getpid()}.{next(_names)}.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path.unlink(missing_ok=True)
        sock.bind(str(path))
        sock.setblocking(False)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read)
        self._listener, self.path = sock, path

    def _read(self) -> None:
        assert self._listener is not None
        while True:
            try:
                data = self._listener.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            self.heard(data.decode(errors="replace").split("\n"))

    def heard(self, topics: Iterable[str]) -> None:
        """Wake the subscribers of ``topics``."""
        for t in topics:
            for ev in self._events.get(t, ()):
                ev.set()

    def close(self) -> None:
        """Stop listening and remove this process's socket."""
        if self._listener is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@functools.cache
def doorbell(directory: str, quiet_s: float) -> Doorbell:
    """This process's doorbell on ``directory`` (one for its relay and all its subscribers)."""
    return Doorbell(directory, quiet_s)
