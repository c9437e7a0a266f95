"""The pipeline's targets (issues 16 and 18), judged from one run's rows; each line says MET or NOT MET."""

from __future__ import annotations

import argparse

from bench.report import Row

MEASURED_REPLAY = 100_000  # issue 18: a measured, not extrapolated, replay of this many reports


def _one(rows: list[Row], scenario: str, stage: str = "end_to_end") -> Row | None:
    found = [r for r in rows if r.system == "pipeline" and r.scenario == scenario and r.stage == stage]
    return found[0] if found else None


def _mark(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def verdicts(rows: list[Row], args: argparse.Namespace) -> list[str]:
    """Latency at the fixed rate, sustained rate, replay rate, CPU per report, ratio to durable, measured 100k."""
    out = []
    fixed = _one(rows, "fixed_rate")
    if fixed is not None and fixed.p99_ms is not None:
        ok = fixed.p99_ms <= args.p99_budget_ms and not fixed.missing
        out.append(
            f"p99 <= {args.p99_budget_ms:g} ms at {args.rate:g} reports/s: {_mark(ok)} "
            f"(p99 {fixed.p99_ms:,.1f} ms, {fixed.missing} missing)"
        )
    best, thr = _one(rows, "max_rate_p99_under_budget"), _one(rows, "replay_throughput")
    if best is not None:
        out.append(
            f"sustained >= {args.target_rate:,.0f} reports/s end to end: {_mark((best.value or 0) >= args.target_rate)}"
            f" (highest step with p99 <= {args.p99_budget_ms:g} ms: {best.value:g} /s)"
        )
    if thr is not None and thr.value is not None:
        out.append(
            f"replay >= {args.replay_rate_target:g} reports/s: {_mark(thr.value >= args.replay_rate_target)} "
            f"({thr.value:,.1f} /s over {thr.count or 0:,} reports)"
        )
        ratio = thr.ratio_to_durable
        out.append(
            f"replay ratio to the durable baseline >= {args.durable_ratio_target:g}: "
            + (f"{_mark(ratio >= args.durable_ratio_target)} ({ratio:g})" if ratio is not None else "durable not run")
        )
    cpu = _one(rows, "replay_cpu", "cpu:total")
    if cpu is not None and cpu.value is not None:
        out.append(
            f"<= {args.cpu_budget_ms:g} CPU ms per report: {_mark(cpu.value <= args.cpu_budget_ms)} "
            f"({cpu.value:g} ms: services, broker and PostgreSQL backends)"
        )
    replay = _one(rows, "replay")
    if replay is not None:
        done = replay.count or 0
        ok = done >= MEASURED_REPLAY and not replay.missing
        out.append(
            f"a measured {MEASURED_REPLAY:,}-report replay: {_mark(ok)} "
            f"({done:,} of {done + (replay.missing or 0):,} arrived in {replay.value or 0:,.1f} s)"
        )
    return out or ["pipeline not run: no verdict"]
