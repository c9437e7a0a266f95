"""On the bench's own embedded broker (Tansu) the pipeline runs with the Kafka doorbell, as ``make run`` does, and the
bench's producer rings the intake topic: without it the subscribers idle before a fixed-rate run kept a 2 s fetch
waiting at Tansu and the first second of reports reached their pages 0.5-1.4 s late."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench.__main__ import make_system, parse_args
from bench.pipeline import PipelineSystem, intake_bell
from psp_common import topics
from psp_common.kafka import Doorbell
from psp_common.stack import ServiceProcess, Stack


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append((topic, key))


def test_the_pipeline_has_the_doorbell_only_on_the_benchs_own_broker(tmp_path: Path) -> None:
    args = parse_args(["--only", "pipeline"])
    on_tansu = make_system("pipeline", "127.0.0.1:1", tmp_path, args, "dsn", embedded=True)
    external = make_system("pipeline", "127.0.0.1:1", tmp_path, args, "dsn", embedded=False)
    assert isinstance(on_tansu, PipelineSystem) and on_tansu.doorbell
    assert isinstance(external, PipelineSystem) and not external.doorbell


def stack_with_listener(tmp_path: Path, doorbell: bool) -> Stack:
    stack = Stack(workdir=tmp_path, database_urls={}, bootstrap="127.0.0.1:1", doorbell=doorbell)
    stack.services["listener"] = ServiceProcess("listener", 1, "", tmp_path / "listener.log")
    return stack


def test_the_intake_bell_is_the_services_own_and_rings_as_their_relays(tmp_path: Path) -> None:
    assert intake_bell(stack_with_listener(tmp_path, doorbell=False)) is None
    bell = intake_bell(stack_with_listener(tmp_path, doorbell=True))
    assert bell is not None
    assert bell.directory == tmp_path / "bell"
    assert bell.quiet_s == 0.15  # the dev stack's idle_after (300 ms) / 2, as each service's doorbell


async def test_a_report_sent_to_the_intake_topic_wakes_its_idle_subscriber(tmp_path: Path) -> None:
    system = PipelineSystem("127.0.0.1:1", tmp_path, "dsn", doorbell=True)
    producer = Producer()
    system.producer = producer  # type: ignore[assignment]
    system.bell = intake_bell(stack_with_listener(tmp_path, doorbell=True))
    listening = Doorbell(tmp_path / "bell")
    woken: Any = listening.event([topics.OCCURRENCE_REPORTS])
    try:
        await system.send(1)
        await asyncio.wait_for(woken.wait(), 30)  # a bound for a broken test, not a measurement
        assert producer.sent[0][0] == topics.OCCURRENCE_REPORTS
    finally:
        listening.close()
