"""The ``make run`` stack at rest: idle CPU per process (``idle``) and the first report after quiet (``cold``).

Started headless as ``make run`` starts it (``psp_common.devrun``: embedded Tansu, SQLite, the four services, the
console and the dev identity provider, the demo loaded). ``idle``: each process's user+system CPU over
``--idle-seconds`` with nothing to do, in % of one core; the services and apps together against the target
(< 5%), the broker apart. ``cold``: after ``--quiet-seconds`` of quiet one report is POSTed to the listener and
timed until its page reaches the console channel (a new line in the dev links file, read by the bench, so the
services are not asked anything); then ``--warm-reports`` more, one after the other, timed the same way.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import cpu
from bench.report import Row
from psp_common import devrun
from psp_common.stack import APPS, SERVICES, Stack

SYSTEM = "makerun"
IDLE_TARGET_PCT = 5.0
COLD_FACTOR = 2.0  # the first report after quiet may take at most this many times the following ones' median


def make_stack(workdir: Path, bootstrap: str | None = None) -> Stack:
    """The stack ``make run`` starts (its broker too, unless one is given), on free ports, links to a file."""
    workdir.mkdir(parents=True, exist_ok=True)
    urls = {n: f"sqlite+aiosqlite:///{workdir}/{n}.db" for n in (*SERVICES, "console")}
    env = {
        "PSP_ENV": "dev",
        "PSP_DEVIDP_TOKEN_TTL_S": str(devrun.token_ttl_s()),
        "PSP_DEV_LINKS_FILE": str(workdir / devrun.LINKS_FILE),
        "PSP_MONTHLY_CAP": "1000000",  # matching: the bench's reports must not run out of supporters
    }
    return Stack(workdir=workdir, database_urls=urls, bootstrap=bootstrap, apps=APPS, extra_env=env)


def pages_seen(links: Path) -> int:
    """Pages the console channel has written so far (one ``ack`` link each)."""
    try:
        return sum(1 for line in links.read_text(encoding="utf-8").splitlines() if " ack " in line)
    except FileNotFoundError:
        return 0


def report(n: int, now: datetime) -> dict[str, Any]:
    """A report that calls for outreach (a death), with its own id and involved staff member."""
    return {
        "source_system": "bench-quiet",
        "facility": "GEN",
        "report_id": f"QUIET-{os.getpid()}-{n}",
        "version": 1,
        "unit": "ICU",
        "event_class": "incident",
        "category": "medication",
        "harm_level": "death",
        "occurred_at": (now - timedelta(hours=1)).isoformat(),
        "reported_at": now.isoformat(),
        "facility_tz": "America/Toronto",
        "involved_staff": [{"staff_id": f"E-Q{os.getpid()}-{n}", "role": "rn", "involvement": "primary"}],
        "patient": {"age_group": "adult"},
    }


async def time_to_page(client: httpx.AsyncClient, stack: Stack, n: int, timeout_s: float = 60.0) -> float:
    """POST one report and return the seconds until its page is written (inf when it never is)."""
    links = stack.workdir / devrun.LINKS_FILE
    before = pages_seen(links)
    t0 = time.perf_counter()
    r = await client.post(f"{stack.url('listener')}/v1/occurrence-reports", json=report(n, datetime.now(UTC)))
    if r.status_code >= 300:
        raise RuntimeError(f"report refused: HTTP {r.status_code} {r.text[:200]}")
    while pages_seen(links) <= before:
        if time.perf_counter() - t0 > timeout_s:
            return float("inf")
        await asyncio.sleep(0.005)
    return time.perf_counter() - t0


def groups(stack: Stack) -> dict[str, list[int]]:
    """Every process of the stack by name, the broker included (when the stack started it)."""
    out = {name: [svc.proc.pid] for name, svc in stack.services.items() if svc.proc is not None}
    if stack.broker is not None and stack.broker.proc is not None:
        out["broker"] = [stack.broker.proc.pid]
    return out


async def idle_cpu(stack: Stack, seconds: float) -> list[Row]:
    """CPU of each process over ``seconds`` of nothing to do, in % of one core; services+apps total, broker apart."""
    procs = groups(stack)
    before, t0 = cpu.snapshot(procs), time.monotonic()
    await asyncio.sleep(seconds)
    used, wall = cpu.spent(before, cpu.snapshot(procs)), time.monotonic() - t0
    pct = {name: 100 * s / wall for name, s in used.items()}
    unit, span = "% of one core", f"over {wall:.0f} s idle"
    rows = [
        Row(SYSTEM, "idle", stage=f"cpu:{name}", value=round(v, 2), unit=unit, note=span) for name, v in pct.items()
    ]
    total = sum(v for name, v in pct.items() if name != "broker")
    verdict = "MET" if total < IDLE_TARGET_PCT else "NOT MET"
    note = f"services + console + dev IdP, broker apart; target < {IDLE_TARGET_PCT:g}%: {verdict}"
    rows.append(Row(SYSTEM, "idle", stage="cpu:services_total", value=round(total, 2), unit=unit, note=note))
    return rows


async def cold_latency(
    client: httpx.AsyncClient, stack: Stack, quiet_s: float, warm: int, already_quiet_s: float = 0.0
) -> list[Row]:
    """The first report after ``quiet_s`` of quiet (``already_quiet_s`` of it past), then ``warm`` more."""
    await asyncio.sleep(max(quiet_s - already_quiet_s, 0.0))
    first = await time_to_page(client, stack, 0)
    rest = []
    for n in range(1, warm + 1):
        await asyncio.sleep(0.2)
        rest.append(await time_to_page(client, stack, n))
    median = statistics.median(rest) if rest else float("nan")
    ratio = first / median if median else float("nan")
    ok = ratio <= COLD_FACTOR
    rows = [
        Row(
            SYSTEM,
            "cold",
            stage="first_after_quiet",
            value=round(first * 1000, 1),
            unit="ms",
            note=f"{quiet_s:g} s quiet",
        ),
        Row(
            SYSTEM,
            "cold",
            stage="following_median",
            value=round(median * 1000, 1),
            unit="ms",
            count=len(rest),
            note="max " + f"{max(rest) * 1000:.0f} ms" if rest else "",
        ),
        Row(
            SYSTEM,
            "cold",
            stage="first_over_following",
            value=round(ratio, 2),
            unit="ratio",
            note=f"target <= {COLD_FACTOR:g}: {'MET' if ok else 'NOT MET'}",
        ),
    ]
    return rows


async def run(scenarios: set[str], workdir: Path, idle_s: float, quiet_s: float, warm: int) -> list[Row]:
    """Start the stack, load the demo, run ``idle`` and/or ``cold``, always stop it."""
    stack = make_stack(workdir, os.environ.get("PSP_BENCH_KAFKA_BOOTSTRAP"))
    rows: list[Row] = []
    print(f"\n== {SYSTEM}: starting the make run stack (logs: {workdir})", flush=True)
    try:
        await asyncio.to_thread(stack.start)
        await stack.wait_ready(timeout=180)
        await devrun.load_demo(stack)
        await devrun.wait_deliveries(stack, expected=3)
        token = await asyncio.to_thread(devrun.fetch_dev_token, stack.url("devidp"), ["intake"], "bench-quiet")
        client = httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"})
        async with client:
            await time_to_page(client, stack, -1)  # every path warm once before measuring
            await asyncio.sleep(5)  # let the demo's pages, retries and commits settle
            idled = 0.0
            if "idle" in scenarios:
                rows += await idle_cpu(stack, idle_s)
                idled = idle_s
                print(
                    f"   idle: services {_value(rows, 'cpu:services_total')}% of one core, "
                    f"broker {_value(rows, 'cpu:broker')}%",
                    flush=True,
                )
            if "cold" in scenarios:
                rows += await cold_latency(client, stack, quiet_s, warm, idled)
                first, median = _value(rows, "first_after_quiet"), _value(rows, "following_median")
                print(f"   cold: first after {quiet_s:g} s quiet {first} ms, following median {median} ms", flush=True)
    except Exception as exc:
        print(f"   {SYSTEM} failed: {type(exc).__name__}: {exc}", flush=True)
        rows.append(Row(SYSTEM, "error", note=f"{type(exc).__name__}: {str(exc)[:200]}"))
    finally:
        await asyncio.to_thread(stack.stop)
    return rows


def _value(rows: list[Row], stage: str) -> float | None:
    return next((r.value for r in rows if r.stage == stage), None)


def verdicts(rows: list[Row]) -> list[str]:
    """The two targets of an idle stack, from the ``makerun`` rows."""
    out = []
    total = [r for r in rows if r.system == SYSTEM and r.stage == "cpu:services_total"]
    if total and total[0].value is not None:
        ok = total[0].value < IDLE_TARGET_PCT
        out.append(
            f"idle make run stack < {IDLE_TARGET_PCT:g}% of one core (broker apart): {'MET' if ok else 'NOT MET'} "
            f"({total[0].value}%; broker {_value(rows, 'cpu:broker')}%)"
        )
    ratio = [r for r in rows if r.system == SYSTEM and r.stage == "first_over_following"]
    if ratio and ratio[0].value is not None:
        ok = ratio[0].value <= COLD_FACTOR
        out.append(
            f"first report after quiet <= {COLD_FACTOR:g}x the following ones: {'MET' if ok else 'NOT MET'} "
            f"({_value(rows, 'first_after_quiet')} ms vs median {_value(rows, 'following_median')} ms)"
        )
    return out
