"""Micro-benchmark of the listener's per-report normalization (a script, not a test; issue 18).

    uv run python -m bench.listener_codec [rounds]

CPU time (process_time), best of ``rounds`` interleaved rounds, so a busy machine skews both sides alike. Each
pair compares what the listener does now with what it did before (both still callable here):
- validated once: ``resolve(**fields)`` vs building the draft and then the event from it (``.complete()``);
- correlation id: the sha1 text vs ``uuid.uuid5`` (the same id);
and the whole native path (``parse_native``: JSON in, event out) for scale.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench import payload
from psp_common.events.intake import SourceKind
from psp_common.events.vocab import EventClass, HarmLevel, Involvement
from psp_common.pseudonym import Pseudonymizer
from psp_listener.adapters.common import Person, correlation_id, staff_refs
from psp_listener.adapters.drafts import IncidentDraft, resolve
from psp_listener.normalizer import Normalizer
from psp_listener.settings import ListenerSettings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _report(seq: int) -> bytes:
    return json.dumps(payload.report(seq, run="micro", now=NOW)).encode()


def _best_us(fn: Callable[[], object], number: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, time.process_time() - start)
    return best / number * 1e6


def main(rounds: int = 7) -> None:
    settings = ListenerSettings()
    pseudo = Pseudonymizer.from_settings(settings)
    norm = Normalizer(settings, pseudo)
    staff = staff_refs([Person("E-1", "rn", Involvement.PRIMARY)], pseudo)
    fields: dict[str, Any] = {
        "occurred_at": NOW,
        "incident_ref": "ref_0123456789abcdef0123456789abcdef",
        "report_version": 1,
        "source_kind": SourceKind.NATIVE,
        "facility": "GEN",
        "unit": "ICU",
        "facility_tz": "America/Toronto",
        "reported_at": NOW,
        "event_class": EventClass.INCIDENT,
        "category": "medication",
        "harm_level": HarmLevel.DEATH,
        "patient_age_group": "adult",
        "staff": staff,
        "cis_flags": (),
        "source_system": "bench",
        "source_id": "B-1",
    }
    bodies = [_report(i) for i in range(1000)]
    feed = iter(range(10**12))
    pairs: list[tuple[str, Callable[[], object], Callable[[], object], int]] = [
        ("event from fields", lambda: IncidentDraft(**fields).complete(), lambda: resolve(**fields), 5000),
        (
            "correlation id",
            lambda: uuid.uuid5(uuid.NAMESPACE_URL, f"psp:{fields['incident_ref']}:7"),
            lambda: correlation_id(fields["incident_ref"], 7),
            50000,
        ),
    ]
    for name, before, now, number in pairs:
        b, n = _best_us(before, number, rounds), _best_us(now, number, rounds)
        print(f"{name:20s} before {b:7.2f} us   now {n:7.2f} us   saved {b - n:6.2f} us")
    whole = _best_us(lambda: norm.parse_native(bodies[next(feed) % 1000]), 2000, rounds)
    print(f"{'parse_native':20s} now {whole:7.2f} us per report")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
