"""Systems under test share one shape: start, send(seq) without waiting, count arrivals, trace stages, stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from bench import payload
from bench.trace import Extract, Offsets, end_offsets, read_range
from psp_common.kafka import ensure_topics

REPO = Path(__file__).resolve().parent.parent


class System:
    """Base of the systems: a producer for intake, sequence numbers unique across scenarios."""

    name = "system"
    stage_labels: tuple[str, ...] = ()

    def __init__(self, bootstrap: str, workdir: Path, partitions: int = 3) -> None:
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.partitions = partitions
        self.producer: AIOKafkaProducer | None = None
        self.next_seq = 0
        self.pids: dict[str, int] = {}
        self.broker_pid: int | None = None  # the embedded broker, when the bench started one

    async def cpu_groups(self) -> dict[str, list[int]]:
        """Processes whose CPU time the replay reports, by name (the system's own processes and the broker)."""
        groups = {name: [pid] for name, pid in self.pids.items()}
        if self.broker_pid is not None:
            groups["broker"] = [self.broker_pid]
        return groups

    @property
    def topics(self) -> tuple[str, ...]:
        """Traced topics in hop order; the first is where the load enters."""
        raise NotImplementedError

    async def start(self) -> None:
        """Bring the system up and prove one message passes end to end."""
        raise NotImplementedError

    async def start_producer(self, request_timeout_ms: int = 40_000) -> None:
        """The load generator's producer (acks=all, like the services)."""
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=False,
            request_timeout_ms=request_timeout_ms,
            linger_ms=0,
        )
        await self.producer.start()

    async def restart_producer(self, request_timeout_ms: int) -> None:
        """Replace the producer (e.g. with a timeout long enough to ride out a paused broker)."""
        if self.producer is not None:
            await self.producer.stop()
        await self.start_producer(request_timeout_ms)

    def take(self, n: int) -> range:
        """Reserve ``n`` fresh sequence numbers."""
        seqs = range(self.next_seq, self.next_seq + n)
        self.next_seq += n
        return seqs

    async def send(self, seq: int) -> None:
        """Hand one message to the producer without waiting for the broker."""
        raise NotImplementedError

    async def flush(self) -> None:
        """Wait until everything sent is acknowledged by the broker."""
        if self.producer is not None:
            await self.producer.flush()

    def arrived(self, seqs: range) -> int:
        """How many of ``seqs`` reached the end (cheap; used for waiting and progress)."""
        raise NotImplementedError

    async def arrivals(self, seqs: range) -> dict[int, float]:
        """``{seq: arrival time}`` for the end of the system."""
        raise NotImplementedError

    def extractors(self) -> dict[str, Extract]:
        """How to map a record of each traced topic to its sequence number."""
        raise NotImplementedError

    async def offsets(self) -> Offsets:
        """End offsets of the traced topics now (the start of a scenario's trace)."""
        return await end_offsets(self.bootstrap, self.topics)

    async def stage_times(self, start: Offsets, seqs: range) -> list[dict[int, float]]:
        """Record timestamps per traced topic, in hop order, for records after ``start``."""
        got = await read_range(self.bootstrap, start, self.extractors(), seqs)
        return [got[t] for t in self.topics]

    async def maintain(self) -> None:
        """What a database's maintenance would have done by now (the pipeline: an autovacuum round); else nothing."""

    async def stop(self) -> None:
        """Stop the producer (subclasses stop their processes)."""
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()


class RelaySystem(System):
    """Intake topic -> three relay processes -> sink topic read by the bench (four hops)."""

    stage_labels = ("intake", "relay1", "relay2", "relay3", "egress")

    def __init__(self, kind: str, bootstrap: str, workdir: Path, partitions: int = 3, fetch_wait_ms: int = 500) -> None:
        super().__init__(bootstrap, workdir, partitions)
        self.kind = kind
        self.fetch_wait_ms = fetch_wait_ms
        self.name = kind
        run = uuid.uuid4().hex[:6]
        self._topics = tuple(f"bench.{kind}.{run}.h{i}" for i in range(4))
        self.procs: list[subprocess.Popen[bytes]] = []
        self._sink: AIOKafkaConsumer | None = None
        self._sink_task: asyncio.Task[None] | None = None
        self._arrivals: dict[int, float] = {}

    @property
    def topics(self) -> tuple[str, ...]:
        """h0 (intake) .. h3 (read by the sink)."""
        return self._topics

    async def start(self) -> None:
        """Create topics, start the relays and the sink, wait until a probe message passes end to end."""
        await ensure_topics(self.bootstrap, self._topics, self.partitions, 1)
        await asyncio.to_thread(self._spawn_relays)
        self._sink = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.fetch_wait_ms,
        )
        await self._sink.start()
        parts = await _wait_partitions(self._sink, self._topics[3])
        self._sink.assign([TopicPartition(self._topics[3], p) for p in parts])
        self._sink_task = asyncio.create_task(self._consume())
        await self.start_producer()
        await self._probe()

    def relay_args(self, hop: int) -> list[str]:
        """Arguments every relay process takes: its source and target topic, group, broker, long-poll bound."""
        return [
            "--source",
            self._topics[hop],
            "--target",
            self._topics[hop + 1],
            "--group",
            f"bench-{self.kind}-relay{hop + 1}",
            "--bootstrap",
            self.bootstrap,
            "--fetch-max-wait-ms",
            str(self.fetch_wait_ms),
        ]

    def relay_command(self, hop: int) -> list[str]:
        """The command line of relay process ``hop`` (0..2)."""
        return [sys.executable, "-m", "bench.relays", self.kind, *self.relay_args(hop)]

    def _spawn_relays(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for i in range(3):
            log = open(self.workdir / f"{self.kind}-relay{i + 1}.log", "ab")  # noqa: SIM115
            proc = subprocess.Popen(
                self.relay_command(i),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=REPO,
            )
            log.close()
            self.procs.append(proc)
            self.pids[f"relay{i + 1}"] = proc.pid

    async def _probe(self, timeout_s: float = 120.0) -> None:
        seq = self.take(1)
        await self.send(seq[0])
        deadline = time.monotonic() + timeout_s
        while not self.arrived(seq):
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{self.kind} relay exited with {p.returncode}; see {self.workdir}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.kind} relays did not pass a probe within {timeout_s}s")
            await asyncio.sleep(0.1)

    async def _consume(self) -> None:
        assert self._sink is not None
        while True:
            batch = await self._sink.getmany(timeout_ms=200, max_records=5000)
            now = time.time()
            for records in batch.values():
                for r in records:
                    seq = _seq_of_key(r)
                    if seq is not None and seq not in self._arrivals:
                        self._arrivals[seq] = now

    async def send(self, seq: int) -> None:
        """Produce one occurrence-report-sized JSON message keyed by its sequence number."""
        assert self.producer is not None
        body = json.dumps(payload.report(seq)).encode()
        await self.producer.send(self._topics[0], body, key=str(seq).encode())

    def arrived(self, seqs: range) -> int:
        """How many of ``seqs`` the sink has seen."""
        return sum(1 for s in seqs if s in self._arrivals)

    async def arrivals(self, seqs: range) -> dict[int, float]:
        """Sink receipt times."""
        return {s: self._arrivals[s] for s in seqs if s in self._arrivals}

    def extractors(self) -> dict[str, Extract]:
        """Every hop keeps the key."""
        return {t: _seq_of_key for t in self._topics}

    async def stop(self) -> None:
        """Stop the sink, the producer and the relay processes."""
        if self._sink_task is not None:
            self._sink_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sink_task
        if self._sink is not None:
            await self._sink.stop()
        await super().stop()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _seq_of_key(r: ConsumerRecord[Any, Any]) -> int | None:
    try:
        return int(r.key)
    except (TypeError, ValueError):
        return None


async def _wait_partitions(consumer: AIOKafkaConsumer, topic: str, timeout_s: float = 30.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no partitions for {topic}")
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.2)
