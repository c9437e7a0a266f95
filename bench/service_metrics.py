"""What the services' own ``/metrics`` say about a run: per consumed topic, handler calls, batch size, handler time.

Read at the end of the pipeline system (``PipelineSystem.stop``): it splits a stage's latency into what the
consumer's handler spent (database commit included) and the rest (fetch waits, outbox relay, dispatcher). The
whole text of each service's metrics is kept beside its log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class ConsumerFigures:
    """One consumer (service, topic) over the whole run."""

    service: str
    topic: str
    calls: int
    records: int
    handler_s: float

    @property
    def mean_batch(self) -> float:
        """Records per handler call."""
        return self.records / self.calls if self.calls else 0.0

    @property
    def mean_handler_ms(self) -> float:
        """Milliseconds per handler call."""
        return 1000 * self.handler_s / self.calls if self.calls else 0.0

    def line(self) -> str:
        """One printed line."""
        return (
            f"   {self.service:<12} {self.topic:<34} {self.calls:>7} calls  {self.mean_batch:>6.1f} records/call"
            f"  {self.mean_handler_ms:>7.1f} ms/call"
        )


def consumer_figures(service: str, text: str) -> list[ConsumerFigures]:
    """The consumers in one service's metrics text that handled anything."""
    sums: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("psp_consumer_batch_size", "psp_consumer_handler_seconds"):
            continue
        for sample in family.samples:
            if sample.name.endswith(("_sum", "_count")):
                key = (sample.labels.get("topic", ""), f"{family.name}{sample.name[len(family.name) :]}")
                sums[key] = sums.get(key, 0.0) + sample.value
    topics = sorted({t for t, _ in sums})
    out = []
    for t in topics:
        calls = int(sums.get((t, "psp_consumer_batch_size_count"), 0))
        if calls:
            records = int(sums.get((t, "psp_consumer_batch_size_sum"), 0))
            seconds = sums.get((t, "psp_consumer_handler_seconds_sum"), 0.0)
            out.append(ConsumerFigures(service, t, calls, records, seconds))
    return out


async def collect(urls: dict[str, str], keep: Path) -> list[ConsumerFigures]:
    """Scrape every service's ``/metrics`` (keeping each text in ``keep``); the consumers' figures."""
    figures: list[ConsumerFigures] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for name, url in urls.items():
            try:
                text = (await client.get(f"{url}/metrics")).text
            except httpx.HTTPError:
                continue
            (keep / f"metrics-{name}.txt").write_text(text)
            figures += consumer_figures(name, text)
    return figures
