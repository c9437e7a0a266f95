"""The ``durable`` baseline system: the raw relay's shape, each hop a ``bench.durable_relay`` on its own database.

See ``bench/durable_relay.py`` for what a hop does per batch (inbox claim and output rows in one transaction,
then produce and commit offsets).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from bench.systems import RelaySystem


class DurableSystem(RelaySystem):
    """The relay shape of ``raw`` with a fresh PostgreSQL database per hop (inbox + output table each)."""

    def __init__(
        self, bootstrap: str, workdir: Path, pg_admin_dsn: str, partitions: int = 3, fetch_wait_ms: int = 500
    ) -> None:
        super().__init__("durable", bootstrap, workdir, partitions, fetch_wait_ms)
        self.pg_admin_dsn = pg_admin_dsn
        self.dsns: list[str] = []

    async def start(self) -> None:
        """Three fresh databases (one per hop), then the relays, sink and probe as for ``raw``."""
        from tests.support import create_database

        self.dsns = [(await create_database(self.pg_admin_dsn))[0] for _ in range(3)]
        await super().start()

    def relay_command(self, hop: int) -> list[str]:
        """The raw relay's arguments plus the hop's database."""
        return [sys.executable, "-m", "bench.durable_relay", *self.relay_args(hop), "--dsn", self.dsns[hop]]

    async def cpu_groups(self) -> dict[str, list[int]]:
        """The relays, the broker and the PostgreSQL backends serving the three databases."""
        from bench.cpu import postgres_backends

        groups = await super().cpu_groups()
        groups["postgres"] = await postgres_backends(self.pg_admin_dsn, [d.rsplit("/", 1)[1] for d in self.dsns])
        return groups

    async def stop(self) -> None:
        """Stop the relays, then drop the databases."""
        from tests.support import drop_database

        await super().stop()
        for dsn in self.dsns:
            with contextlib.suppress(Exception):
                await drop_database(self.pg_admin_dsn, dsn.rsplit("/", 1)[1])
