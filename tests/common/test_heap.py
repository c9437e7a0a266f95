"""A service process freezes what start-up built out of the garbage collector's sight, once it is ready."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import MetaData

from psp_common import heap, runtime
from psp_common.settings import ServiceSettings

PROBE = """
import gc, json
from psp_common.heap import settle
before = gc.get_threshold()
settle(12345)
print(json.dumps({"frozen": gc.get_freeze_count(), "before": before, "after": gc.get_threshold()}))
"""


def test_settle_freezes_startup_objects_and_sets_the_young_threshold() -> None:
    # In a child process: freezing the test process's own objects would outlive the test.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    seen = json.loads(out)
    assert seen["frozen"] > 1000  # the interpreter's and psp_common's objects, no longer walked by collections
    assert seen["after"] == [12345, seen["before"][1], seen["before"][2]]


def test_the_service_entry_point_settles_the_heap_once_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ServiceSettings(service_name="probe", gc_young_threshold=4321)
    app = SimpleNamespace(state=SimpleNamespace(runtime=SimpleNamespace(after_start=[])))
    served: list[Any] = []
    monkeypatch.setattr(runtime.startup, "load", lambda *_: settings)
    monkeypatch.setattr(runtime, "serve", lambda a, s: served.append(a))
    settled: list[int] = []
    monkeypatch.setattr(heap, "settle", settled.append)

    runtime.run(ServiceSettings, lambda s: app)  # type: ignore[arg-type, return-value]

    assert served == [app] and settled == []  # nothing frozen before start-up is done
    (hook,) = app.state.runtime.after_start
    hook()
    assert settled == [4321]


async def test_runtime_start_runs_its_hooks_once_ready(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = ServiceSettings(
        service_name="probe", database_url=f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}", kafka_create_topics=False
    )
    rt = runtime.Runtime(settings, MetaData(), tmp_path)

    async def nothing(*_: Any) -> None:
        return None

    monkeypatch.setattr(runtime, "upgrade_async", nothing)
    monkeypatch.setattr(rt.broker, "start", nothing)
    monkeypatch.setattr(rt.relay, "start", lambda: None)
    monkeypatch.setattr(rt.tokens.keys, "warm", lambda: None)
    seen: list[bool] = []
    rt.after_start.append(lambda: seen.append(rt.ready))

    await rt.start()

    assert seen == [True]
    await rt.engine.dispose()
