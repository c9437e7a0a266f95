"""bench.service_metrics reads the consumers' figures out of a service's Prometheus text."""

from __future__ import annotations

from prometheus_client import generate_latest

from bench.service_metrics import consumer_figures
from psp_common.metrics import Metrics


def test_figures_per_topic_from_a_services_metrics_text() -> None:
    metrics = Metrics("rules")
    metrics.observe_batch("psp.a.v1", "g1", 10, 0.020)
    metrics.observe_batch("psp.a.v1", "g1", 30, 0.040)
    metrics.observe_batch("psp.b.v1", "g2", 1, 0.001)
    metrics.consumes("psp.idle.v1", "g3")  # registered, never handled: not reported
    text = generate_latest(metrics.registry).decode()

    figures = {f.topic: f for f in consumer_figures("rules", text)}

    assert set(figures) == {"psp.a.v1", "psp.b.v1"}
    a = figures["psp.a.v1"]
    assert (a.service, a.calls, a.records) == ("rules", 2, 40)
    assert a.mean_batch == 20.0
    assert abs(a.mean_handler_ms - 30.0) < 1e-6
    assert "psp.a.v1" in a.line() and "20.0 records/call" in a.line()
    assert figures["psp.b.v1"].calls == 1
