"""Versions and machine facts recorded with every result."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import psutil

PACKAGES = ("faststream", "aiokafka", "sqlalchemy", "asyncpg", "pydantic")


def package_version(name: str) -> str:
    """Installed version of a distribution, or 'absent'."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def cpu_model(cpuinfo: str | None = None) -> str:
    """CPU model name from /proc/cpuinfo (or the platform's processor string)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_commit(repo: Path) -> str:
    """Short HEAD commit, with '+dirty' when the work tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


async def postgres_version(admin_dsn: str) -> str:
    """server_version of the PostgreSQL server, or 'unreachable'."""
    import asyncpg

    try:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
    except Exception:
        return "unreachable"
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def environment(repo: Path, pg_version: str, broker: str) -> dict[str, str]:
    """Ordered environment facts: versions, git commit, broker, cores, memory, CPU model."""
    env = {"python": platform.python_version()}
    env.update({p: package_version(p) for p in PACKAGES})
    env["postgres"] = pg_version
    env["git_commit"] = git_commit(repo)
    env["broker"] = broker
    env["cores"] = str(os.cpu_count() or 0)
    env["memory_gib"] = f"{psutil.virtual_memory().total / 2**30:.1f}"
    env["cpu_model"] = cpu_model()
    env["os"] = f"{platform.system()} {platform.release()}"
    return env
