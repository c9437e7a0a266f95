"""Sample the services with py-spy while they are under load; summarize the hottest frames per process."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path


def pyspy_path() -> str | None:
    """The py-spy executable (PATH, or ``uv tool install py-spy``'s ~/.local/bin), if installed."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path.home() / ".local" / "bin"))


async def record(pids: dict[str, int], seconds: float, outdir: Path) -> dict[str, Path]:
    """Run ``py-spy record`` (raw collapsed stacks, idle frames skipped) on every pid at once."""
    exe = pyspy_path()
    if exe is None:
        return {}
    await asyncio.to_thread(outdir.mkdir, parents=True, exist_ok=True)
    procs = {}
    for name, pid in pids.items():
        out = outdir / f"profile-{name}.txt"
        procs[name] = (
            out,
            await asyncio.create_subprocess_exec(
                exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "100",
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            ),
        )
    done = {}
    for name, (out, proc) in procs.items():
        await proc.wait()
        if await asyncio.to_thread(out.exists):
            done[name] = out
    return done


def top_frames(collapsed: str, n: int = 12) -> tuple[int, list[tuple[str, float, float]]]:
    """From collapsed stacks (``a;b;c count``): total samples and the top ``n`` frames by inclusive share,
    each as (frame, inclusive %, self %)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        total += k
        frames = stack.split(";")
        own[frames[-1]] += k
        for f in set(frames):
            inclusive[f] += k
    if total == 0:
        return 0, []
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])
    out = [(f, 100.0 * c / total, 100.0 * own[f] / total) for f, c in ranked if not _boring(f)][:n]
    return total, out


def _boring(frame: str) -> bool:
    """Frames every stack shares (the event loop, module entry), which say nothing about cost."""
    return any(
        s in frame
        for s in (
            "<module>",
            "run_forever",
            "_run_once",
            "(asyncio/runners.py)",
            "_run (asyncio/events.py)",
            "run (asyncio/",
            "run_until_complete",
            "_run_module_as_main",
            "_run_code",
            "process-",
        )
    )


ENTRY_FRAMES = ("runtime.py", "bootstrap.py", "__main__.py")


def shares(collapsed: str, app_marker: str = "psp_", n: int = 6) -> dict[str, object]:
    """Share of samples inside the database stack and aiokafka, top self frames, and the deepest frame of
    our own code (``app_marker``) on each stack, i.e. which application call the time is spent under."""
    total = db = kafka = 0
    own: Counter[str] = Counter()
    app: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        total += k
        frames = stack.split(";")
        own[frames[-1].split(" (")[0]] += k
        db += k if any("asyncpg/" in f or "sqlalchemy/" in f for f in frames) else 0
        kafka += k if any("aiokafka/" in f for f in frames) else 0
        mine = [f for f in frames if app_marker in f and not any(x in f for x in ENTRY_FRAMES)]
        if mine:
            app[mine[-1]] += k
    pct = (lambda c: round(100.0 * c / total, 1)) if total else (lambda c: 0.0)
    return {
        "samples": total,
        "db_pct": pct(db),
        "kafka_pct": pct(kafka),
        "self": [(f, pct(c)) for f, c in own.most_common(n)],
        "app": [(f, pct(c)) for f, c in app.most_common(n)],
    }


def report(profiles: dict[str, Path], n: int = 6) -> str:
    """A text summary of every profile."""
    lines = []
    for name, path in profiles.items():
        s = shares(path.read_text(errors="replace"), n=n)
        lines.append(
            f"   {name}: {s['samples']} samples; under SQLAlchemy/asyncpg {s['db_pct']}%, "
            f"under aiokafka {s['kafka_pct']}% ({path})"
        )
        lines.append("      self: " + ", ".join(f"{f[:45]} {p}%" for f, p in s["self"]))  # type: ignore[attr-defined]
        for f, p in s["app"]:  # type: ignore[attr-defined]
            lines.append(f"      {p:5.1f}% under {f[:140]}")
    return "\n".join(lines)
