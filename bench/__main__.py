"""``make bench``: raw and durable relays, FastStream relay and the full pipeline, on the same broker, open loop."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench import profile, quiet, scenarios
from bench.env import environment, postgres_version
from bench.report import Row, results_markdown, text_table, with_ratios, write_csv
from bench.systems import REPO, RelaySystem, System
from bench.targets import verdicts

SYSTEMS = ("raw", "durable", "faststream", "pipeline")
QUICK = {
    "duration": 3.0,
    "rates": "50,200,1000",
    "step_seconds": 3.0,
    "replay": 200,
    "pause_seconds": 5.0,
    "pause_rate": 50.0,
    "drain_seconds": 20.0,
    "settle_seconds": 30.0,
    "whatif_incidents": 10_000,
    "idle_seconds": 20.0,
    "quiet_seconds": 20.0,
}
ORDER = ("fixed", "search", "replay", "drain")
SYSTEM_SCENARIOS = set(ORDER)
QUIET_SCENARIOS = {"idle", "cold"}  # the make run stack at rest (bench/quiet.py)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``make bench BENCH_ARGS='--quick'``)."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small run (~2 min) to check the harness works")
    p.add_argument("--only", default=",".join(SYSTEMS), help="comma list of " + ",".join(SYSTEMS))
    p.add_argument(
        "--scenarios",
        default="fixed,search,replay,drain,whatif,idle,cold",
        help="comma list of the scenarios to run (whatif: rules' draft what-if on stored history, no broker; "
        "idle, cold: the make run stack at rest)",
    )
    p.add_argument("--idle-seconds", type=float, default=60.0, help="idle scenario: how long CPU is read, s")
    p.add_argument("--quiet-seconds", type=float, default=60.0, help="cold scenario: quiet before the first report")
    p.add_argument("--warm-reports", type=int, default=5, help="cold scenario: reports timed after the first")
    p.add_argument("--whatif-incidents", type=int, default=100_000, help="stored incident versions the what-if decides")
    p.add_argument("--rate", type=float, default=200.0, help="fixed-rate scenario, reports/s (target: p99 <= 250 ms)")
    p.add_argument("--duration", type=float, default=30.0, help="fixed-rate scenario length, s")
    p.add_argument(
        "--warmup-seconds",
        type=float,
        default=10.0,
        help="fixed-rate scenario: load at the rate before it, not measured, then the databases' maintenance (0: none)",
    )
    p.add_argument("--rates", default="100,200,400,700,1000,1500,2000,2500,3000", help="step search rates")
    p.add_argument("--step-seconds", type=float, default=15.0, help="length of each step, s")
    p.add_argument("--target-rate", type=float, default=2000.0, help="sustained reports/s the pipeline must reach")
    p.add_argument("--p99-budget-ms", type=float, default=250.0, help="p99 a step must stay under")
    p.add_argument("--replay-rate-target", type=float, default=500.0, help="pipeline replay reports/s to reach")
    p.add_argument("--cpu-budget-ms", type=float, default=4.0, help="pipeline CPU ms per report (all processes)")
    p.add_argument(
        "--durable-ratio-target", type=float, default=0.5, help="pipeline replay throughput / durable baseline's"
    )
    p.add_argument("--drain-seconds", type=float, default=60.0, help="how long to wait for stragglers after a step")
    p.add_argument(
        "--settle-seconds", type=float, default=180.0, help="bound on waiting for a backlog to clear between scenarios"
    )
    p.add_argument("--replay", type=int, default=1_000, help="historical reports to replay (target 100,000)")
    p.add_argument("--replay-target", type=int, default=100_000, help="replay size to extrapolate to")
    p.add_argument("--replay-timeout", type=float, default=900.0, help="bound on the replay, s")
    p.add_argument(
        "--replay-system",
        choices=["fresh", "shared"],
        default="fresh",
        help="replay on a fresh system and embedded broker (default) or after the other scenarios on the same one",
    )
    p.add_argument("--pause-seconds", type=float, default=60.0, help="how long the broker is SIGSTOPped")
    p.add_argument("--pause-rate", type=float, default=200.0, help="load during the pause, reports/s")
    p.add_argument("--supporters", type=int, default=50, help="supporters registered for the pipeline")
    p.add_argument(
        "--intake",
        choices=["kafka", "http"],
        default="kafka",
        help="pipeline intake: produce to psp.occurrence-reports.v1 or POST to the listener",
    )
    p.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=20,
        help="fetch_max_wait_ms of the baseline relays and sink (the services use the 500 ms default)",
    )
    p.add_argument(
        "--profile-seconds",
        type=float,
        default=20.0,
        help="py-spy the pipeline's services this long during the replay (0 = off; needs py-spy)",
    )
    p.add_argument("--partitions", type=int, default=3, help="partitions per topic")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="CSV directory")
    p.add_argument(
        "--results-md",
        type=Path,
        default=None,
        help="Markdown results file (default bench/RESULTS.md; not written by --quick unless given)",
    )
    args = p.parse_args(argv)
    if args.quick:
        given = set(argv if argv is not None else sys.argv[1:])
        for k, v in QUICK.items():
            if f"--{k.replace('_', '-')}" not in given:
                setattr(args, k, v)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in args.only if s not in SYSTEMS]
    if bad:
        p.error(f"--only: unknown system(s) {bad}; choose from {SYSTEMS}")
    args.scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    return args


def phases(args: argparse.Namespace, external: bool) -> list[set[str]]:
    """The system scenarios in runs of their own: the replay alone on a fresh system and broker unless shared.

    Tansu answers a fetch by listing every batch it holds for the partition, and the open-loop scenarios store
    one batch per message, so a replay after them would measure the broker's backlog of objects (and any
    backlog the system had not drained) rather than the system.
    """
    wanted = args.scenarios & SYSTEM_SCENARIOS
    if args.replay_system == "fresh" and not external and "replay" in wanted and wanted - {"replay"}:
        return [wanted - {"replay"}, {"replay"}]
    return [wanted] if wanted else []


async def run_system(
    system: System, args: argparse.Namespace, broker_pid: int | None, wanted: set[str] | None = None
) -> list[Row]:
    """Start one system, run the chosen scenarios on it (``wanted``, default all chosen), always stop it."""
    rows: list[Row] = []
    wanted = args.scenarios if wanted is None else wanted

    async def settle(before: str) -> None:
        left = await scenarios.settle(system, max_s=args.settle_seconds)
        if left:
            print(f"   {left:,} reports still in flight before {before}", flush=True)
            rows.append(
                Row(
                    system.name,
                    f"backlog_before_{before}",
                    value=left,
                    unit="reports",
                    note=f"not drained within {args.settle_seconds:g} s; the next scenario ran on top of it",
                )
            )

    system.broker_pid = broker_pid
    print(f"\n== {system.name}: starting for {', '.join(s for s in ORDER if s in wanted)}", flush=True)
    t0 = time.monotonic()
    try:
        await system.start()
        print(f"   ready in {time.monotonic() - t0:.1f} s", flush=True)
        if "fixed" in wanted:
            if args.warmup_seconds > 0:
                warmed = await scenarios.warm_up(system, args.rate, args.warmup_seconds, args.drain_seconds)
                print(f"   warmed up: {warmed:,} reports at {args.rate:g}/s, not measured", flush=True)
            fixed, m = await scenarios.fixed_rate(system, args.rate, args.duration, args.drain_seconds, "fixed_rate")
            rows += fixed
            print(
                f"   fixed {args.rate:g}/s: p50 {m.e2e.p50_ms:.1f} p99 {m.e2e.p99_ms:.1f} max {m.e2e.max_ms:.1f} ms,"
                f" missing {m.e2e.missing}",
                flush=True,
            )
        if "search" in wanted:
            await settle("search")
            rows += await scenarios.step_search(
                system, args.rates, args.step_seconds, args.p99_budget_ms, args.drain_seconds
            )
        if "replay" in wanted:
            await settle("replay")
            sampling = None
            if args.profile_seconds > 0 and system.name == "pipeline":
                sampling = asyncio.create_task(profile.record(system.pids, args.profile_seconds, system.workdir))
            replayed = await scenarios.replay(system, args.replay, args.replay_timeout, args.replay_target)
            alone = "replay alone on a fresh system and broker" if wanted == {"replay"} else "after the scenarios above"
            rows += [
                replace(r, note=f"{r.note}; {alone}") if r.scenario == "replay" and r.value else r for r in replayed
            ]
            if sampling is not None:
                found = await sampling
                print(profile.report(found) if found else "   py-spy not installed: no profile", flush=True)
        if "drain" in wanted:
            await settle("drain")
            rows += await scenarios.backlog_drain(
                system, broker_pid, args.pause_rate, args.pause_seconds, warm_s=3.0, timeout_s=args.pause_seconds + 300
            )
    except Exception as exc:
        print(f"   {system.name} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        rows.append(Row(system.name, "error", note=f"{type(exc).__name__}: {str(exc)[:200]}"))
    finally:
        await system.stop()
    return rows


def make_system(
    name: str, bootstrap: str, workdir: Path, args: argparse.Namespace, pg_dsn: str, embedded: bool = True
) -> System:
    """Build one of the systems (``embedded``: on the bench's own Tansu broker, not an external one)."""
    if name == "durable":
        from bench.durable import DurableSystem

        return DurableSystem(bootstrap, workdir / name, pg_dsn, args.partitions, args.fetch_wait_ms)
    if name == "pipeline":
        from bench.pipeline import PipelineSystem

        return PipelineSystem(
            bootstrap,
            workdir / "pipeline",
            pg_dsn,
            supporters=args.supporters,
            intake=args.intake,
            partitions=args.partitions,
            doorbell=embedded,
        )
    return RelaySystem(name, bootstrap, workdir / name, args.partitions, args.fetch_wait_ms)


async def amain(args: argparse.Namespace) -> int:
    """Run everything and write the results."""
    from psp_common.embedded import EmbeddedBroker
    from tests.support import pg_dsn

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = REPO / ".run" / "bench" / stamp
    workdir.mkdir(parents=True, exist_ok=True)
    external = os.environ.get("PSP_BENCH_KAFKA_BOOTSTRAP")
    dsn = pg_dsn()
    env = environment(REPO, await postgres_version(dsn), f"external {external}" if external else "tansu (embedded)")
    print("Environment: " + ", ".join(f"{k}={v}" for k, v in env.items()), flush=True)
    rows: list[Row] = []
    if "whatif" in args.scenarios:
        from bench import whatif

        print(f"\n== rules: what-if over {args.whatif_incidents:,} stored incidents", flush=True)
        try:
            rows += await whatif.run(dsn, args.whatif_incidents)
        except Exception as exc:
            print(f"   what-if failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            rows.append(Row("rules", "error", note=f"{type(exc).__name__}: {str(exc)[:200]}"))
    if args.scenarios & QUIET_SCENARIOS:
        rows += await quiet.run(
            args.scenarios & QUIET_SCENARIOS,
            workdir / quiet.SYSTEM,
            args.idle_seconds,
            args.quiet_seconds,
            args.warm_reports,
        )
    for name in args.only:
        for i, wanted in enumerate(phases(args, bool(external))):
            # The embedded broker keeps every message in memory and slows as it fills, so each system starts on a
            # fresh one (same binary, same settings); an external broker is shared as given.
            tag = f"{name}-replay" if i else name
            broker = None if external else EmbeddedBroker(log_path=workdir / f"broker-{tag}.log").start()
            bootstrap = external or (broker.bootstrap if broker else "")
            broker_pid = broker.proc.pid if broker and broker.proc else None
            try:
                system = make_system(name, bootstrap, workdir / ("replay" if i else ""), args, dsn, not external)
                rows += await run_system(system, args, broker_pid, wanted)
            finally:
                if broker is not None:
                    broker.stop()
    rows = with_ratios(rows)
    print("\n" + text_table(rows))
    verdict = verdicts(rows, args) + quiet.verdicts(rows)
    if "whatif" in args.scenarios:
        from bench import whatif

        verdict += [v for v in [whatif.verdict(rows, args.whatif_incidents)] if v]
    for v in verdict:
        print("Target: " + v)
    csv_path = args.out / f"{stamp}.csv"
    write_csv(csv_path, rows, {"run_at": stamp, **env})
    write_csv(args.out / "latest.csv", rows, {"run_at": stamp, **env})
    print(f"\nCSV: {csv_path} (and {args.out / 'latest.csv'}); service logs: {workdir}")
    md = args.results_md or (None if args.quick else REPO / "bench" / "RESULTS.md")
    if md is not None:
        command = "python -m bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        md.write_text(results_markdown(rows, {"run_at": stamp, **env}, verdict, command.strip()))
        print(f"Markdown: {md}")
    return 1 if any(r.scenario == "error" for r in rows) else 0


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    """Entry point; SIGTERM unwinds like Ctrl-C so services, relays and the broker are always stopped."""
    signal.signal(signal.SIGTERM, _interrupt)
    raise SystemExit(asyncio.run(amain(parse_args())))


if __name__ == "__main__":
    main()
