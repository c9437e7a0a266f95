"""Bench-only: count the Kafka requests a process sends, by API (``PYTHONPATH=bench/kafka_count``).

Active only when ``PSP_BENCH_KAFKA_COUNT_DIR`` is set: wraps aiokafka's ``AIOKafkaConnection.send`` and, once a
second, appends ``{"t": unix time, "counts": {api: n}}`` (cumulative; ``FetchEmpty``: fetches answered without
records) to ``<dir>/<process>.<pid>.jsonl``. ``python -m bench.kafka_requests <dir> <reports>`` turns the series
into requests per report.
"""

from __future__ import annotations

import os

if os.environ.get("PSP_BENCH_KAFKA_COUNT_DIR"):
    import atexit
    import collections
    import json
    import sys
    import threading
    import time
    from pathlib import Path

    def _install() -> None:
        from aiokafka.conn import AIOKafkaConnection

        counts: collections.Counter[str] = collections.Counter()
        original = AIOKafkaConnection.send

        async def empty_or_not(answer):  # type: ignore[no-untyped-def]
            response = await answer
            if not any(p[-1] for _, parts in response.topics for p in parts):
                counts["FetchEmpty"] += 1
            return response

        def send(self, request, expect_response=True):  # type: ignore[no-untyped-def]
            api = type(request).__name__.removesuffix("Request")
            counts[api] += 1
            answer = original(self, request, expect_response)
            return empty_or_not(answer) if api == "Fetch" and expect_response else answer

        AIOKafkaConnection.send = send  # type: ignore[method-assign]
        directory = Path(os.environ["PSP_BENCH_KAFKA_COUNT_DIR"])
        directory.mkdir(parents=True, exist_ok=True)

        def dump() -> None:
            main = Path(sys.argv[0]).parent.name if sys.argv and sys.argv[0] else "python"  # set after site runs
            with (directory / f"{main}.{os.getpid()}.jsonl").open("a") as f:
                f.write(json.dumps({"t": time.time(), "counts": dict(counts)}) + "\n")

        def loop() -> None:
            while True:
                time.sleep(1.0)
                dump()

        threading.Thread(target=loop, daemon=True, name="kafka-count").start()
        atexit.register(dump)

    try:
        _install()
    except ImportError:
        pass
