"""Open-loop load: send times fixed in advance from the start time, so a slow system cannot slow the load."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field


def send_times(start: float, rate: float, count: int) -> Iterator[float]:
    """Scheduled send time of each of ``count`` messages at ``rate`` per second from ``start``."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    if count < 0:
        raise ValueError("count must not be negative")
    interval = 1.0 / rate
    for i in range(count):
        yield start + i * interval


def count_for(rate: float, duration_s: float) -> int:
    """How many messages a run at ``rate`` for ``duration_s`` seconds sends."""
    return max(1, round(rate * duration_s))


@dataclass
class LoadResult:
    """What an open-loop run did: the scheduled time of every message and how late the generator was."""

    scheduled: dict[int, float] = field(default_factory=dict)
    max_lag_s: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def count(self) -> int:
        """Messages sent."""
        return len(self.scheduled)


async def open_loop(
    send: Callable[[int], Awaitable[None]],
    *,
    rate: float,
    count: int,
    first_seq: int = 0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    lead_s: float = 0.05,
) -> LoadResult:
    """Call ``send(seq)`` at fixed times from now; a late generator catches up but keeps the scheduled time.

    Latency must be measured from ``result.scheduled[seq]`` (not from when ``send`` ran), so a stalled
    system is charged for every message it delayed: no coordinated omission.
    """
    start = clock() + lead_s
    result = LoadResult(started_at=start)
    for i, at in enumerate(send_times(start, rate, count)):
        seq = first_seq + i
        wait = at - clock()
        if wait > 0:
            await sleep(wait)
        else:
            result.max_lag_s = max(result.max_lag_s, -wait)
        result.scheduled[seq] = at
        await send(seq)
    result.finished_at = clock()
    return result
