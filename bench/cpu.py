"""CPU time per process (Linux /proc): what each part of a system spends per report, independent of wall time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None when it is gone or /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def snapshot(groups: Mapping[str, list[int]]) -> dict[str, dict[int, float]]:
    """CPU seconds of every pid, by named group."""
    out: dict[str, dict[int, float]] = {}
    for name, pids in groups.items():
        out[name] = {pid: s for pid in pids if (s := cpu_seconds(pid)) is not None}
    return out


def spent(before: Mapping[str, Mapping[int, float]], after: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
    """CPU seconds each group used between two snapshots (a process that started in between counts in full)."""
    return {
        name: sum(s - before.get(name, {}).get(pid, 0.0) for pid, s in pids.items()) for name, pids in after.items()
    }


async def postgres_backends(admin_dsn: str, databases: list[str]) -> list[int]:
    """Pids of the PostgreSQL backends connected to ``databases`` now (their CPU is the system's too)."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])", databases)
    finally:
        await conn.close()
    return [r["pid"] for r in rows]
