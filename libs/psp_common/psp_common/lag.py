"""Consumer lag read from the broker at scrape time, so an idle or stuck consumer's lag is current.

A consumer measures its lag when it handles a batch (``psp_common.kafka.observe``); one that stopped handling,
or has not handled anything since messages arrived, would keep an old value. At scrape time this reads, per
consumer group of the service, the group's committed offsets and the partitions' end offsets, and sets
``psp_consumer_lag`` = end - committed. At most one read per ``min_interval_s``: a scrape in between keeps
the values of the last read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from psp_common.metrics import Metrics

log = logging.getLogger("psp.metrics")


class BrokerLag:
    """Reads committed and end offsets of the groups registered in ``metrics.consumers``.

    One reader per group: a consumer given that ``group_id`` that never subscribes (so it joins no group and
    causes no rebalance) and never commits (auto-commit off); it only asks the group coordinator for the
    committed offsets and the partition leaders for the end offsets.
    """

    def __init__(
        self, metrics: Metrics, bootstrap: str, *, min_interval_s: float = 10.0, timeout_s: float = 5.0
    ) -> None:
        self._metrics = metrics
        self._timeout = timeout_s
        self._bootstrap = bootstrap
        self._min_interval = min_interval_s
        self._readers: dict[str, AIOKafkaConsumer] = {}
        self._last: float | None = None

    async def refresh(self) -> None:
        """Set the lag gauge of every registered (topic, group) partition from the broker (bounded in time, so
        a broker outage cannot hold up a scrape: the gauges then keep their last values)."""
        now = time.monotonic()
        if self._last is not None and now - self._last < self._min_interval:
            return
        self._last = now
        await asyncio.wait_for(self._read(), self._timeout)

    async def _read(self) -> None:
        for group, topics in _by_group(self._metrics.consumers).items():
            reader = await self._reader(group)
            partitions = await _partitions(reader, topics)
            if not partitions:
                continue
            ends = await reader.end_offsets(partitions)
            for tp in partitions:
                committed = await reader.committed(tp)
                self._metrics.observe_lag(tp.topic, group, tp.partition, ends[tp] - (committed or 0))

    async def _reader(self, group: str) -> AIOKafkaConsumer:
        reader = self._readers.get(group)
        if reader is None:
            reader = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id="psp-metrics",
                group_id=group,
                enable_auto_commit=False,
            )
            await reader.start()
            self._readers[group] = reader
        return reader

    async def close(self) -> None:
        """Close the readers (the first scrape opens them)."""
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            try:
                await reader.stop()
            except Exception as exc:  # closing must not fail a shutdown
                log.debug("closing a lag reader failed (%s)", type(exc).__name__)


def _by_group(consumers: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for topic, group in consumers:
        groups.setdefault(group, set()).add(topic)
    return groups


async def _partitions(consumer: AIOKafkaConsumer, topics: set[str]) -> list[TopicPartition]:
    found: list[TopicPartition] = []
    for topic in sorted(topics):
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()  # aiokafka has no public metadata refresh
            parts = consumer.partitions_for_topic(topic) or set()
        found.extend(TopicPartition(topic, p) for p in sorted(parts))
    return found
