"""Retention: a configurable time after a case closes, its identifying data is purged; counts are kept.

Each service supplies ``purge(uow, now, cutoff, batch) -> ids``, which anonymizes at most ``batch`` cases closed at
or before ``cutoff`` and commits; this module runs it in a background loop (clock injectable for tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from psp_common.clock import utcnow
from psp_common.db import UnitOfWork

log = logging.getLogger("psp.retention")
PURGED = "purged"
Purge = Callable[[UnitOfWork, datetime, datetime, int], Awaitable[list[str]]]


class Retention:
    """Runs a service's purge until nothing is due, every ``retention_poll_s`` (a ``Runtime.background`` loop)."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        purge: Purge,
        days: float,
        batch: int,
        poll_s: float,
        now: Callable[[], datetime] = utcnow,
        what: str = "closed case(s)",
    ) -> None:
        self.uow, self.purge, self.days, self.batch, self.poll_s, self.now = uow, purge, days, batch, poll_s, now
        self.what = what

    async def tick(self) -> int:
        """Purge every due case (in batches of ``batch``); return how many."""
        total = 0
        now = self.now()
        cutoff = now - timedelta(days=self.days)
        while True:
            async with self.uow() as uow:
                ids = await self.purge(uow, now, cutoff, self.batch)
            total += len(ids)
            if len(ids) < self.batch:
                break
        if total:
            log.info("retention purged %d %s", total, self.what)
        return total

    async def run(self) -> None:
        """Purge, sleep ``poll_s``, repeat until cancelled; failures are logged and retried."""
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention round failed; retrying")
            await asyncio.sleep(self.poll_s)
