"""Scenarios run against each system: fixed rate, step search, replay, backlog drain after a paused broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, replace

from bench import cpu
from bench.report import Row
from bench.schedule import LoadResult, count_for, open_loop
from bench.stats import Summary, latencies
from bench.systems import System


@dataclass(frozen=True)
class Measured:
    """End-to-end and per-stage results of one load run."""

    e2e: Summary
    stages: list[tuple[str, Summary]]
    achieved_rate: float
    generator_lag_s: float


async def wait_arrivals(system: System, seqs: range, timeout_s: float, progress: str | None = None) -> float:
    """Wait until every message of ``seqs`` arrived or ``timeout_s`` passed; return the wait in seconds."""
    t0 = time.monotonic()
    last_print = 0.0
    while system.arrived(seqs) < len(seqs) and time.monotonic() - t0 < timeout_s:
        await asyncio.sleep(0.05)
        if progress and time.monotonic() - last_print > 0.5:
            last_print = time.monotonic()
            print_progress(progress, system.arrived(seqs), len(seqs), time.monotonic() - t0)
    if progress:
        print_progress(progress, system.arrived(seqs), len(seqs), time.monotonic() - t0)
        if sys.stderr.isatty():
            sys.stderr.write("\n")
    return time.monotonic() - t0


def progress_bar(label: str, done: int, total: int, elapsed_s: float, width: int = 30) -> str:
    """``label [#####.....] done/total  rate/s  eta``."""
    frac = done / total if total else 1.0
    fill = int(frac * width)
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else float("inf")
    eta_s = f"{eta:,.0f}s" if eta != float("inf") else "?"
    return f"{label} [{'#' * fill}{'.' * (width - fill)}] {done:,}/{total:,}  {rate:,.0f}/s  eta {eta_s}"


_last_line = [0.0]


def print_progress(label: str, done: int, total: int, elapsed_s: float) -> None:
    """Redraw the progress bar on stderr (a new line every 5 s when stderr is not a terminal)."""
    if sys.stderr.isatty():
        sys.stderr.write("\r" + progress_bar(label, done, total, elapsed_s))
    elif time.monotonic() - _last_line[0] >= 5 or done == total:
        _last_line[0] = time.monotonic()
        sys.stderr.write(progress_bar(label, done, total, elapsed_s) + "\n")
    sys.stderr.flush()


async def measure(system: System, seqs: range, scheduled: dict[int, float], start_offsets: dict) -> Measured:  # type: ignore[type-arg]
    """End-to-end latency from the scheduled time; per stage from record timestamps of each topic."""
    times = await system.stage_times(start_offsets, seqs)
    arrivals = await system.arrivals(seqs)
    e2e, _ = latencies(scheduled, arrivals, seqs)
    stages: list[tuple[str, Summary]] = []
    prev = scheduled
    for label, ts in zip(system.stage_labels, [*times, arrivals], strict=True):
        summary, _ = latencies(prev, ts, seqs)
        stages.append((label, summary))
        prev = ts
    if arrivals:
        span = max(arrivals.values()) - min(scheduled[s] for s in seqs)
        achieved = len(arrivals) / span if span > 0 else 0.0
    else:
        achieved = 0.0
    return Measured(e2e, stages, achieved, 0.0)


async def warm_up(system: System, rate: float, seconds: float, drain_s: float) -> int:
    """``seconds`` of load at ``rate``, not measured, then the databases' maintenance; return the reports sent.

    A fixed-rate run measures a system in service, not one whose tables are empty: on a fresh PostgreSQL database
    the planner has no statistics, and the plans it makes while the tables hold a few rows (sequential scans of
    cases, members, assignments; kept by each connection's prepared statements) stay until the next analyze. On a
    production server autovacuum analyzes a table once 50 rows plus 10% changed, within its naptime.
    """
    if seconds <= 0:
        return 0
    seqs = system.take(count_for(rate, seconds))
    await run_load(system, seqs, rate, drain_s)
    await system.maintain()
    return len(seqs)


async def run_load(system: System, seqs: range, rate: float, drain_s: float) -> LoadResult:
    """Send ``seqs`` open loop at ``rate``, flush, and wait (up to ``drain_s``) until they arrived."""
    it = iter(seqs)

    async def send(_: int) -> None:
        await system.send(next(it))

    load = await open_loop(send, rate=rate, count=len(seqs), first_seq=seqs.start)
    await system.flush()
    await wait_arrivals(system, seqs, drain_s)
    return load


async def fixed_rate(
    system: System, rate: float, duration_s: float, drain_s: float, scenario: str
) -> tuple[list[Row], Measured]:
    """Open-loop load at ``rate`` for ``duration_s``; rows for end to end and every stage."""
    seqs = system.take(count_for(rate, duration_s))
    start = await system.offsets()
    load = await run_load(system, seqs, rate, drain_s)
    m = await measure(system, seqs, load.scheduled, start)
    m = Measured(m.e2e, m.stages, m.achieved_rate, load.max_lag_s)
    note = f"generator max lag {load.max_lag_s * 1000:.0f} ms" if load.max_lag_s > 0.05 else ""
    rows = [
        Row.latency(
            system.name,
            scenario,
            "end_to_end",
            m.e2e,
            offered_rate=rate,
            achieved_rate=round(m.achieved_rate, 1),
            note=note,
        )
    ]
    rows += [Row.latency(system.name, scenario, f"stage:{label}", s, offered_rate=rate) for label, s in m.stages]
    return rows, m


async def step_search(system: System, rates: list[float], step_s: float, budget_ms: float, drain_s: float) -> list[Row]:
    """Raise the rate step by step (each step bounded in time) until p99 exceeds the budget or messages go missing."""
    rows: list[Row] = []
    best = 0.0
    for rate in rates:
        step_rows, m = await fixed_rate(system, rate, step_s, drain_s, "step")
        ok = m.e2e.meets(budget_ms)
        head = step_rows[0]
        rows.append(replace(head, note="; ".join(x for x in ("pass" if ok else "FAIL", head.note) if x)))
        print(
            f"  {system.name} step {rate:,.0f}/s: p99 {m.e2e.p99_ms:,.1f} ms, missing {m.e2e.missing}, "
            f"achieved {m.achieved_rate:,.0f}/s -> {'pass' if ok else 'FAIL'}",
            flush=True,
        )
        if not ok:
            break
        best = rate
        await settle(system, max_s=drain_s)
    rows.append(
        Row(
            system.name,
            "max_rate_p99_under_budget",
            value=best,
            unit="reports/s",
            note=f"p99 <= {budget_ms:g} ms, nothing missing, {step_s:g} s steps",
        )
    )
    return rows


async def settle(system: System, quiet_s: float = 1.0, max_s: float = 120.0) -> int:
    """Wait (bounded) until everything sent so far came out, so one run's tail does not land in the next.

    Returns how many messages are still outstanding when it gives up (they are noted on the next rows).
    """
    everything = range(0, system.next_seq)
    await wait_arrivals(system, everything, max_s)
    await asyncio.sleep(quiet_s)
    return len(everything) - system.arrived(everything)


def cpu_rows(system: str, used: dict[str, float], reports: int) -> list[Row]:
    """CPU milliseconds per report of each process group during the replay, and their total."""
    if not reports or not used:
        return []
    per = {name: 1000 * s / reports for name, s in used.items()}
    note = "CPU time (user+system) during the replay / reports; the bench's own process is not included"
    rows = [
        Row(system, "replay_cpu", stage=f"cpu:{name}", value=round(v, 2), unit="cpu ms/report")
        for name, v in per.items()
    ]
    rows.append(
        Row(system, "replay_cpu", stage="cpu:total", value=round(sum(per.values()), 2), unit="cpu ms/report", note=note)
    )
    return rows


async def replay(system: System, count: int, timeout_s: float, target: int) -> list[Row]:
    """Push ``count`` reports as fast as possible and time until the last one comes out, with a progress bar."""
    seqs = system.take(count)
    start_offsets = await system.offsets()
    cpu_before = cpu.snapshot(await system.cpu_groups())
    t0 = time.time()
    scheduled = {}
    for s in seqs:
        scheduled[s] = time.time()
        await system.send(s)
        if s % 500 == 0:
            await asyncio.sleep(0)
    await system.flush()
    intake_s = time.time() - t0
    await wait_arrivals(system, seqs, timeout_s, progress=f"  {system.name} replay")
    cpu_used = cpu.spent(cpu_before, cpu.snapshot(await system.cpu_groups()))
    m = await measure(system, seqs, scheduled, start_offsets)
    arrivals = await system.arrivals(seqs)
    done = len(arrivals)
    elapsed = (max(arrivals.values()) - t0) if arrivals else float("nan")
    rate = done / elapsed if arrivals and elapsed > 0 else 0.0
    note = f"intake took {intake_s:.1f} s"
    if done < count:
        note += f"; only {done:,} of {count:,} arrived within {timeout_s:g} s"
    rows = [
        Row(
            system.name,
            "replay",
            value=round(elapsed, 2),
            unit="s",
            count=done,
            missing=count - done,
            achieved_rate=round(rate, 1),
            note=f"{count:,} reports; {note}",
        ),
        Row(system.name, "replay_throughput", value=round(rate, 1), unit="reports/s", count=done),
    ]
    rows += cpu_rows(system.name, cpu_used, done)
    if count != target and rate > 0:
        rows.append(
            Row(
                system.name,
                f"replay_{target // 1000}k_extrapolated",
                value=round(target / rate, 1),
                unit="s",
                note=f"EXTRAPOLATED from {count:,} reports at {rate:,.0f}/s, not measured",
            )
        )
    rows += [Row.latency(system.name, "replay", f"stage:{label}", s) for label, s in m.stages]
    return rows


async def backlog_drain(
    system: System, broker_pid: int | None, rate: float, pause_s: float, warm_s: float, timeout_s: float
) -> list[Row]:
    """Load at ``rate``; SIGSTOP the broker for ``pause_s`` while the load goes on; time the drain after SIGCONT."""
    if broker_pid is None:
        return [Row(system.name, "drain_after_pause", note="skipped: external broker, cannot pause it")]
    await system.restart_producer(request_timeout_ms=int((pause_s + 120) * 1000))
    n = count_for(rate, warm_s + pause_s)
    seqs = system.take(n)
    start_offsets = await system.offsets()
    loop = asyncio.get_running_loop()
    resumed: list[float] = []
    resumed_event = asyncio.Event()

    def stop_broker() -> None:
        os.kill(broker_pid, signal.SIGSTOP)

    def resume_broker() -> None:
        os.kill(broker_pid, signal.SIGCONT)
        resumed.append(time.time())
        resumed_event.set()

    it = iter(seqs)

    async def send(_: int) -> None:
        await system.send(next(it))

    h_stop = loop.call_later(warm_s, stop_broker)
    h_cont = loop.call_later(warm_s + pause_s, resume_broker)
    try:
        load = await open_loop(send, rate=rate, count=n, first_seq=seqs.start)
        await resumed_event.wait()
        await wait_arrivals(system, seqs, timeout_s, progress=f"  {system.name} drain")
    finally:
        h_stop.cancel()
        h_cont.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.kill(broker_pid, signal.SIGCONT)
    await system.flush()
    m = await measure(system, seqs, load.scheduled, start_offsets)
    arrivals = await system.arrivals(seqs)
    last = max(arrivals.values()) if arrivals else float("nan")
    drain = last - resumed[0] if arrivals else float("nan")
    backlog = sum(1 for s in seqs if load.scheduled[s] >= resumed[0] - pause_s)
    await system.restart_producer(request_timeout_ms=40_000)
    return [
        Row(
            system.name,
            "drain_after_pause",
            value=round(drain, 2),
            unit="s",
            offered_rate=rate,
            count=len(arrivals),
            missing=n - len(arrivals),
            achieved_rate=round(backlog / drain, 1) if drain > 0 else None,
            note=f"broker paused {pause_s:g} s under load; ~{backlog:,} reports backlogged; "
            "time from SIGCONT to the last arrival (achieved_rate = backlog / drain time)",
        ),
        Row.latency(system.name, "drain_after_pause", "end_to_end", m.e2e, offered_rate=rate),
    ]
