"""uvicorn's server without its tenth-of-a-second tick, so an idle process sleeps.

``uvicorn.Server.main_loop`` wakes ten times a second to see whether to stop (and, every tenth wake, to renew the
``Date`` header). At rest that was most of what the console and the dev identity provider did, and a fifth of what
each service did (``bench/quiet.py``'s idle scenario). Here the loop wakes once per ``tick_s`` for the header and
the request limit, and at once when a signal asks it to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import FrameType

import uvicorn


class QuietServer(uvicorn.Server):
    """A ``uvicorn.Server`` whose main loop sleeps until a stop signal or ``tick_s``, not 0.1 s."""

    def __init__(self, config: uvicorn.Config, tick_s: float = 1.0) -> None:
        super().__init__(config)
        self.tick_s = tick_s
        self.ticks = 0
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """Tick (``Date`` header, request limit, stop flag) once per ``tick_s`` or when asked to stop."""
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        while not await self.on_tick(0):  # counter 0: uvicorn renews the Date header on every such tick
            self.ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.tick_s)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's signal handler (it runs between two steps of the loop), then wake the main loop."""
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
