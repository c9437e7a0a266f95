"""The bench's own pure parts: open-loop schedule, histogram summary, ratios, CSV, webhook receiver, progress."""

from __future__ import annotations

import asyncio
import csv
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bench.env import cpu_model
from bench.report import Row, markdown_table, text_table, with_ratios, write_csv
from bench.scenarios import progress_bar
from bench.schedule import count_for, open_loop, send_times
from bench.stats import latencies, new_histogram, record_seconds, summarize
from bench.webhook import WebhookReceiver, parse_headers


def test_send_times_are_fixed_from_the_start() -> None:
    assert list(send_times(100.0, 4.0, 5)) == [100.0, 100.25, 100.5, 100.75, 101.0]
    assert count_for(200, 30) == 6000
    with pytest.raises(ValueError):
        list(send_times(0.0, 0.0, 1))


class FakeClock:
    """Virtual time: sleep advances it; a slow send advances it too."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sent_at: dict[int, float] = {}

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.now += s


async def test_open_loop_keeps_schedule_when_the_system_stalls() -> None:
    clock = FakeClock()

    async def send(seq: int) -> None:
        clock.sent_at[seq] = clock.now
        if seq == 2:
            clock.now += 1.0  # the system blocks the generator for a whole second

    result = await open_loop(send, rate=10, count=6, clock=clock, sleep=clock.sleep, lead_s=0.0)
    # Scheduled times ignore the stall (no coordinated omission) ...
    assert [round(result.scheduled[i] - 1000.0, 3) for i in range(6)] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    # ... the messages after it went out late, and the lag is reported.
    assert clock.sent_at[3] == pytest.approx(1001.2)
    assert result.max_lag_s == pytest.approx(0.9)


def test_latency_is_measured_from_the_scheduled_time() -> None:
    scheduled = {0: 10.0, 1: 10.1, 2: 10.2}
    arrived = {0: 10.05, 1: 11.1}
    summary, missing = latencies(scheduled, arrived, range(3))
    assert missing == 1 and summary.missing == 1
    assert summary.count == 2
    assert summary.max_ms == pytest.approx(1000, rel=1e-3)
    assert not summary.meets(250)


def test_histogram_percentiles() -> None:
    hist = new_histogram()
    for ms in range(1, 1001):
        record_seconds(hist, ms / 1000)
    s = summarize(hist)
    assert s.count == 1000
    assert s.p50_ms == pytest.approx(500, rel=0.01)
    assert s.p90_ms == pytest.approx(900, rel=0.01)
    assert s.p99_ms == pytest.approx(990, rel=0.01)
    assert s.max_ms == pytest.approx(1000, rel=0.01)
    assert summarize(new_histogram()).count == 0


def test_ratios_to_the_raw_relay() -> None:
    rows = [
        Row("raw", "fixed_rate", p99_ms=100.0, offered_rate=200),
        Row("pipeline", "fixed_rate", p99_ms=450.0, offered_rate=200),
        Row("raw", "replay", value=2.0, unit="s"),
        Row("pipeline", "replay", value=10.0, unit="s"),
        Row("pipeline", "fixed_rate", p99_ms=1.0, offered_rate=400),  # no raw row at that rate
    ]
    out = with_ratios(rows)
    assert [r.ratio_to_raw for r in out] == [1.0, 4.5, 1.0, 5.0, None]
    assert [r.ratio_to_durable for r in out] == [None] * 5  # durable did not run


def test_ratios_to_the_raw_and_the_durable_relay_side_by_side() -> None:
    rows = [
        Row("raw", "replay_throughput", value=4000.0, unit="reports/s"),
        Row("durable", "replay_throughput", value=1000.0, unit="reports/s"),
        Row("pipeline", "replay_throughput", value=500.0, unit="reports/s"),
        Row("durable", "fixed_rate", p99_ms=80.0, offered_rate=200),
        Row("pipeline", "fixed_rate", p99_ms=200.0, offered_rate=200),
        Row("pipeline", "replay_cpu", stage="cpu:total", value=3.0, unit="cpu ms/report"),
        Row("durable", "replay_cpu", stage="cpu:total", value=0.5, unit="cpu ms/report"),
    ]
    out = with_ratios(rows)
    assert [(r.ratio_to_raw, r.ratio_to_durable) for r in out] == [
        (1.0, 4.0),
        (0.25, 1.0),
        (0.12, 0.5),
        (None, 1.0),
        (None, 2.5),
        (None, 6.0),
        (None, 1.0),
    ]
    table = text_table(out)
    assert "ratio_to_raw  ratio_to_durable" in table
    header = markdown_table(out).splitlines()[0]
    assert "| ratio_to_raw | ratio_to_durable | note |" in header


def test_targets_judge_the_pipeline_against_the_durable_baseline() -> None:
    from bench.__main__ import parse_args
    from bench.targets import verdicts

    args = parse_args([])
    rows = with_ratios(
        [
            Row("durable", "replay_throughput", value=1000.0, unit="reports/s"),
            Row("pipeline", "replay_throughput", value=600.0, unit="reports/s", count=100_000),
            Row("pipeline", "replay", value=166.7, unit="s", count=100_000, missing=0),
            Row("pipeline", "replay_cpu", stage="cpu:total", value=4.5, unit="cpu ms/report"),
        ]
    )
    text = "\n".join(verdicts(rows, args))
    assert "replay >= 500 reports/s: MET (600.0 /s over 100,000 reports)" in text
    assert "replay ratio to the durable baseline >= 0.5: MET (0.6)" in text
    assert "<= 4 CPU ms per report: NOT MET (4.5 ms" in text
    assert "a measured 100,000-report replay: MET (100,000 of 100,000 arrived in 166.7 s)" in text
    short = [replace(r, count=10_000) if r.scenario == "replay" else r for r in rows]
    assert "a measured 100,000-report replay: NOT MET" in "\n".join(verdicts(short, args))
    alone = [r for r in rows if r.system == "pipeline"]
    assert "ratio to the durable baseline >= 0.5: durable not run" in "\n".join(verdicts(with_ratios(alone), args))


def test_default_systems_run_both_baselines_first() -> None:
    from bench.__main__ import parse_args

    assert parse_args([]).only == ["raw", "durable", "faststream", "pipeline"]
    assert parse_args(["--only", "raw,durable"]).only == ["raw", "durable"]
    with pytest.raises(SystemExit):
        parse_args(["--only", "kafka"])


def test_csv_carries_environment_on_every_row(tmp_path: Path) -> None:
    rows = [Row("raw", "fixed_rate", p99_ms=12.5, count=10), Row("pipeline", "replay", value=3.0, unit="s")]
    path = tmp_path / "r" / "x.csv"
    write_csv(path, rows, {"python": "3.11.7", "cores": "2"})
    with path.open() as fh:
        read = list(csv.DictReader(fh))
    assert [r["system"] for r in read] == ["raw", "pipeline"]
    assert all(r["python"] == "3.11.7" and r["cores"] == "2" for r in read)
    assert read[0]["p99_ms"] == "12.5" and read[0]["value"] == ""
    assert "pipeline" in text_table(rows) and markdown_table(rows).count("\n") == 4


def test_cpu_model_and_progress_bar() -> None:
    assert cpu_model("processor : 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    bar = progress_bar("replay", 50, 100, 10.0, width=10)
    assert "[#####.....]" in bar and "50/100" in bar and "5/s" in bar and "eta 10s" in bar


async def test_webhook_receiver_records_first_arrival_per_key() -> None:
    receiver = await WebhookReceiver(clock=iter([1.0, 2.0, 3.0]).__next__).start()
    try:
        async with httpx.AsyncClient() as client:
            for key in ("a", "a", "b"):
                r = await client.post(receiver.url, content=b'{"x":1}', headers={"Idempotency-Key": key})
                assert r.status_code == 200
        await asyncio.sleep(0)
        assert receiver.arrivals == {"a": 1.0, "b": 3.0}
        assert receiver.requests == 3
    finally:
        await receiver.stop()
    assert parse_headers(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nX-A: b:c\r\n\r\n") == {
        "content-length": "5",
        "x-a": "b:c",
    }


def test_profile_top_frames_from_collapsed_stacks() -> None:
    from bench.profile import top_frames

    collapsed = "main (x.py:1);handle (h.py:5);commit (db.py:9) 6\nmain (x.py:1);parse (p.py:2) 3\nbad line\n"
    total, top = top_frames(collapsed)
    assert total == 9
    by = {f: (inc, own) for f, inc, own in top}
    assert by["handle (h.py:5)"] == pytest.approx((66.67, 0.0), rel=1e-3)
    assert by["commit (db.py:9)"] == pytest.approx((66.67, 66.67), rel=1e-3)
    assert by["parse (p.py:2)"] == pytest.approx((33.33, 33.33), rel=1e-3)


def test_profile_shares_attribute_time_to_our_code_and_the_db() -> None:
    from bench.profile import shares

    collapsed = (
        "run (psp_common/runtime.py:1);handle (psp_x/h.py:5);execute (sqlalchemy/a.py:1);write (asyncio/s.py:1) 6\n"
        "run (psp_common/runtime.py:1);send (aiokafka/c.py:2) 4\n"
    )
    s = shares(collapsed)
    assert s["samples"] == 10 and s["db_pct"] == 60.0 and s["kafka_pct"] == 40.0
    assert s["app"] == [("handle (psp_x/h.py:5)", 60.0)]
    assert s["self"] == [("write", 60.0), ("send", 40.0)]


def test_cpu_accounting_per_process_and_per_report() -> None:
    import os

    from bench import cpu
    from bench.scenarios import cpu_rows

    me = os.getpid()
    before = cpu.snapshot({"me": [me], "gone": [2**22 + 7]})
    for _ in range(100):  # burn CPU until the kernel's tick-based accounting shows it (a loaded machine lags)
        sum(i * i for i in range(300_000))
        used = cpu.spent(before, cpu.snapshot({"me": [me], "gone": [2**22 + 7]}))
        if used["me"] > 0:
            break
    assert used["me"] > 0 and used["gone"] == 0
    rows = cpu_rows("pipeline", {"rules": 0.5, "matching": 1.5}, 1000)
    assert {r.stage: r.value for r in rows} == {"cpu:rules": 0.5, "cpu:matching": 1.5, "cpu:total": 2.0}
    assert all(r.unit == "cpu ms/report" for r in rows)
    assert cpu_rows("pipeline", {"rules": 1.0}, 0) == []


def test_what_if_verdict_is_the_slowest_round_with_best_median_and_cpu() -> None:
    from bench.whatif import verdict

    rows = [Row("rules", "what_if", f"round_{i}", count=100_000, value=v, unit="s") for i, v in enumerate((6, 4, 5))]
    rows += [
        Row("rules", "what_if_cpu", f"round_{i}", count=100_000, value=v, unit="cpu s") for i, v in enumerate((3, 9))
    ]
    text = verdict(rows, 100_000) or ""
    assert ": MET (100,000 in 6.00 s at worst over 3 rounds; best 4.00 s, median 5.00 s; CPU best 3.00 s" in text
    rows[0] = Row("rules", "what_if", "round_0", count=100_000, value=10.5, unit="s")
    assert "NOT MET (100,000 in 10.50 s" in (verdict(rows, 100_000) or "")
    assert "NOT MET" in (verdict(rows[1:], 10_000) or "")  # fewer than 100,000 cannot meet it
    assert verdict([], 100_000) is None


def test_the_replay_runs_alone_on_a_fresh_system_unless_shared() -> None:
    from bench.__main__ import parse_args, phases

    assert phases(parse_args([]), external=False) == [{"fixed", "search", "drain"}, {"replay"}]
    assert phases(parse_args(["--replay-system", "shared"]), external=False) == [{"fixed", "search", "replay", "drain"}]
    assert phases(parse_args([]), external=True) == [{"fixed", "search", "replay", "drain"}]  # one broker, as given
    assert phases(parse_args(["--scenarios", "replay"]), external=False) == [{"replay"}]
    assert phases(parse_args(["--scenarios", "whatif"]), external=False) == []


def test_quiet_verdicts_judge_the_idle_total_and_the_cold_ratio() -> None:
    from bench.quiet import verdicts

    rows = [
        Row("makerun", "idle", stage="cpu:broker", value=2.0),
        Row("makerun", "idle", stage="cpu:services_total", value=4.9),
        Row("makerun", "cold", stage="first_after_quiet", value=3000.0),
        Row("makerun", "cold", stage="following_median", value=170.0),
        Row("makerun", "cold", stage="first_over_following", value=17.6),
    ]
    idle, cold = verdicts(rows)
    assert "MET (4.9%" in idle and "NOT MET" not in idle
    assert "NOT MET" in cold


def test_quiet_counts_pages_by_their_ack_link(tmp_path: Path) -> None:
    from bench.quiet import pages_seen

    links = tmp_path / "links.txt"
    assert pages_seen(links) == 0
    links.write_text("ref1 ack http://x/a\nref1 decline http://x/d\nref2 ack http://x/b\n")
    assert pages_seen(links) == 2
