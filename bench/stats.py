"""Latency summaries from HDR histograms (microsecond resolution, 3 significant digits)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped and flagged by ``missing``
DIGITS = 3


@dataclass(frozen=True)
class Summary:
    """Percentiles of one latency distribution, in milliseconds."""

    count: int
    missing: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def meets(self, p99_budget_ms: float) -> bool:
        """Whether every message arrived and p99 is within the budget."""
        return self.missing == 0 and self.count > 0 and self.p99_ms <= p99_budget_ms


def new_histogram() -> HdrHistogram:
    """An empty histogram of microseconds."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record_seconds(hist: HdrHistogram, seconds: float) -> None:
    """Record one latency given in seconds (negative clock skew counts as the lowest value)."""
    us = round(seconds * 1e6)
    hist.record_value(min(max(us, LOWEST_US), HIGHEST_US))


def summarize(hist: HdrHistogram, missing: int = 0) -> Summary:
    """p50/p90/p99/max/mean of a histogram, in ms."""
    n = hist.get_total_count()
    if n == 0:
        return Summary(0, missing, 0.0, 0.0, 0.0, 0.0, 0.0)

    def ms(us: float) -> float:
        return round(us / 1000.0, 3)

    return Summary(
        count=n,
        missing=missing,
        p50_ms=ms(hist.get_value_at_percentile(50)),
        p90_ms=ms(hist.get_value_at_percentile(90)),
        p99_ms=ms(hist.get_value_at_percentile(99)),
        max_ms=ms(hist.get_max_value()),
        mean_ms=ms(hist.get_mean_value()),
    )


def latencies(start: Mapping[int, float], end: Mapping[int, float], keys: Iterable[int]) -> tuple[Summary, int]:
    """Summary of ``end[k] - start[k]`` over ``keys`` that have both; returns it and how many lacked an end."""
    hist = new_histogram()
    missing = 0
    for k in keys:
        if k not in start:
            continue
        if k not in end:
            missing += 1
            continue
        record_seconds(hist, end[k] - start[k])
    return summarize(hist, missing), missing
