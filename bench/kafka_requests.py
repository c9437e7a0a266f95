"""Kafka requests per report, by service and API, from the series ``bench/kafka_count`` wrote during a replay.

Run the bench with ``PYTHONPATH=bench/kafka_count PSP_BENCH_KAFKA_COUNT_DIR=<dir>``, then
``uv run python -m bench.kafka_requests <dir> <reports>``. The window runs from the bench's first produce
(the replay's intake) to the last offset commit of any service (the last report handled).
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

Series = list[tuple[float, Counter[str]]]


def load(directory: Path) -> dict[str, Series]:
    """Each process's cumulative counts over time, by process (``bench`` or a service's package)."""
    out: dict[str, Series] = {}
    for path in sorted(directory.glob("*.jsonl")):
        name = path.name.split(".")[0].removeprefix("psp_")
        series = [(d["t"], Counter(d["counts"])) for d in map(json.loads, path.read_text().splitlines()) if d]
        if name in out:  # a restarted service: keep the longer series
            name = f"{name}.{path.name.split('.')[1]}"
        out[name] = sorted(series, key=lambda s: s[0])
    return out


def at(series: Series, t: float) -> Counter[str]:
    """The counts of the last sample at or before ``t``."""
    last: Counter[str] = Counter()
    for ts, c in series:
        if ts > t:
            break
        last = c
    return last


def window(runs: dict[str, Series]) -> tuple[float, float]:
    """(start, end): the bench's first produce, the last offset commit of a service."""
    bench = next(s for n, s in runs.items() if n.startswith("bench") or n == "__main__")
    start = next(t for t, c in bench if c["Produce"] > 0) - 1.0
    end = start
    for name, series in runs.items():
        if name.startswith("bench"):
            continue
        prev = None
        for t, c in series:
            if prev is not None and c["OffsetCommit"] > prev:
                end = max(end, t)
            prev = c["OffsetCommit"]
    return start, end


def requests(counts: Counter[str]) -> int:
    """Requests sent (``FetchEmpty`` counts answers, a part of ``Fetch``)."""
    return sum(n for api, n in counts.items() if api != "FetchEmpty")


def table(runs: dict[str, Series], reports: int) -> str:
    """A markdown table of requests per report, per service and API, over the replay window."""
    start, end = window(runs)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for name, series in runs.items():
        per[name] = at(series, end) - at(series, start)
    apis = sorted({a for c in per.values() for a in c})
    head = f"window {end - start:.0f} s, {reports} reports; requests per report (FetchEmpty: of the Fetch)"
    lines = [head, "", "| process | " + " | ".join(apis) + " | total |"]
    lines.append("|---" * (len(apis) + 2) + "|")
    total: Counter[str] = Counter()
    for name in sorted(per):
        c = per[name]
        if not name.startswith("bench"):
            total += c
        cells = [f"{c[a] / reports:.3f}" for a in apis]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {requests(c) / reports:.3f} |")
    cells = [f"{total[a] / reports:.3f}" for a in apis]
    lines.append("| services | " + " | ".join(cells) + f" | {requests(total) / reports:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(load(Path(sys.argv[1])), int(sys.argv[2])))
