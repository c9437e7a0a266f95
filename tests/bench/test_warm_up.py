"""A fixed-rate run measures a system in service: before it, load at the same rate (not measured), then the databases'
maintenance, so the plans of a fresh database's empty tables do not make the measured run's latency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.__main__ import parse_args
from bench.pipeline import PipelineSystem
from bench.scenarios import warm_up
from bench.systems import System


class Recorder(System):
    """Every report arrives at once; records what happened, in order."""

    def __init__(self, tmp: Path) -> None:
        super().__init__("127.0.0.1:1", tmp)
        self.events: list[Any] = []
        self.sent = 0

    async def send(self, seq: int) -> None:
        self.sent += 1
        self.events.append(("send", seq))

    async def flush(self) -> None:
        self.events.append("flush")

    def arrived(self, seqs: range) -> int:
        return min(len(seqs), self.sent)

    async def maintain(self) -> None:
        self.events.append("maintain")


async def test_warm_up_loads_at_the_rate_then_maintains_and_the_measured_reports_come_after(tmp_path: Path) -> None:
    system = Recorder(tmp_path)
    sent = await warm_up(system, rate=1000, seconds=0.01, drain_s=5)
    assert sent == 10
    assert system.events[-2:] == ["flush", "maintain"]
    assert [e[1] for e in system.events[:-2]] == list(range(10))
    assert system.take(1).start == 10  # the measured run's reports are new ones


async def test_no_warm_up_no_maintenance(tmp_path: Path) -> None:
    system = Recorder(tmp_path)
    assert await warm_up(system, rate=200, seconds=0, drain_s=5) == 0
    assert system.events == []


class Rounds:
    def __init__(self, running: bool) -> None:
        self.running, self.rounds = running, 0

    async def round(self) -> list[object]:
        self.rounds += 1
        return []


async def test_the_pipeline_maintains_with_a_round_of_its_autovacuum_stand_in(tmp_path: Path) -> None:
    system = PipelineSystem("127.0.0.1:1", tmp_path, "dsn")
    await system.maintain()  # not started: nothing to do
    on, off = Rounds(True), Rounds(False)
    system.autovacuum = on  # type: ignore[assignment]
    await system.maintain()
    system.autovacuum = off  # type: ignore[assignment]  # the server vacuums by itself
    await system.maintain()
    assert (on.rounds, off.rounds) == (1, 0)


def test_the_fixed_rate_run_is_warmed_up_by_default() -> None:
    assert parse_args([]).warmup_seconds == 10
    assert parse_args(["--warmup-seconds", "0"]).warmup_seconds == 0
