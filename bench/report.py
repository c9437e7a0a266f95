"""Result rows, their ratios to the raw and durable relays, the CSV files and the printed / Markdown tables."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from bench.stats import Summary

BASELINES = ("raw", "durable")


@dataclass(frozen=True)
class Row:
    """One measured quantity: a latency distribution (``summary``) or a single ``value`` with a unit."""

    system: str
    scenario: str
    stage: str = "end_to_end"
    offered_rate: float | None = None
    achieved_rate: float | None = None
    count: int | None = None
    missing: int | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    value: float | None = None
    unit: str = ""
    ratio_to_raw: float | None = None
    ratio_to_durable: float | None = None
    note: str = ""

    @classmethod
    def latency(cls, system: str, scenario: str, stage: str, s: Summary, **kw: object) -> Row:
        """A row from a latency summary."""
        return cls(
            system=system,
            scenario=scenario,
            stage=stage,
            count=s.count,
            missing=s.missing,
            p50_ms=s.p50_ms,
            p90_ms=s.p90_ms,
            p99_ms=s.p99_ms,
            max_ms=s.max_ms,
            **kw,  # type: ignore[arg-type]
        )

    def headline(self) -> float | None:
        """The number compared across systems: p99 for latencies, else ``value``."""
        return self.p99_ms if self.p99_ms is not None else self.value


def with_ratios(rows: Iterable[Row], baselines: tuple[str, ...] = BASELINES) -> list[Row]:
    """Each row's headline divided by each baseline system's same (scenario, stage, offered rate) row.

    ``ratio_to_raw`` and ``ratio_to_durable`` columns; a baseline that did not run (or has no such row) leaves None.
    """
    rows = list(rows)

    def key(r: Row) -> tuple[str, str, float | None, bool]:
        return (r.scenario, r.stage, r.offered_rate, r.p99_ms is None)

    bases = {b: {key(r): r.headline() for r in rows if r.system == b} for b in baselines}
    out = []
    for r in rows:
        h = r.headline()
        ratios = {}
        for b, base in bases.items():
            v = base.get(key(r))
            ratios[f"ratio_to_{b}"] = round(h / v, 2) if (v and h is not None) else None
        out.append(replace(r, **ratios))  # type: ignore[arg-type]
    return out


COLUMNS = [f.name for f in fields(Row)]


def write_csv(path: Path, rows: Iterable[Row], env: Mapping[str, object]) -> None:
    """Write rows with the environment (versions, machine) repeated on each, so every file stands alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    env_cols = list(env)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=env_cols + COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({**env, **{k: ("" if v is None else v) for k, v in asdict(r).items()}})


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)


TABLE = [
    "system",
    "scenario",
    "stage",
    "offered_rate",
    "achieved_rate",
    "count",
    "missing",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "value",
    "unit",
    "ratio_to_raw",
    "ratio_to_durable",
    "note",
]


def text_table(rows: Iterable[Row]) -> str:
    """A fixed-width table for the terminal."""
    cells = [[_fmt(getattr(r, c)) for c in TABLE] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(TABLE)]
    buf = io.StringIO()
    buf.write("  ".join(c.ljust(w) for c, w in zip(TABLE, widths, strict=True)).rstrip() + "\n")
    buf.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        buf.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    return buf.getvalue()


def markdown_table(rows: Iterable[Row]) -> str:
    """The same table in Markdown."""
    lines = ["| " + " | ".join(TABLE) + " |", "|" + "---|" * len(TABLE)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(getattr(r, c)).replace("|", "/") for c in TABLE) + " |")
    return "\n".join(lines) + "\n"


def results_markdown(rows: list[Row], env: Mapping[str, object], verdicts: list[str], command: str) -> str:
    """The body of bench/RESULTS.md: environment, verdicts against the targets, the full table."""
    out = ["## Benchmark results", "", f"Command: `{command}`", "", "Environment:", ""]
    out += [f"- {k}: {v}" for k, v in env.items()]
    out += ["", "Targets:", ""] + [f"- {v}" for v in verdicts]
    out += [
        "",
        "Latencies are end to end from the SCHEDULED send time (open loop), in ms; `ratio_to_raw` divides",
        "the p99 (or the value) by the raw aiokafka relay's over the same four hops on the same broker, and",
        "`ratio_to_durable` by the durable relay's (the same hops, each with an inbox claim and an output row",
        "in one PostgreSQL transaction before producing and committing). For throughput rows a ratio above 1",
        "is faster than the baseline; for times and latencies, slower.",
        "",
    ]
    out.append(markdown_table(rows))
    return "\n".join(out)
