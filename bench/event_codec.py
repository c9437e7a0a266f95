"""Micro-benchmark of the bus events' codec: parse (``model_validate_json``), build and serialize, per event.

``loads`` is ``json.loads`` of the same bytes (no validation, no models): what parsing costs at the least.

Not a test and not part of ``make bench``: run ``uv run python -m bench.event_codec`` to see the microseconds one
event costs each way (best of several rounds, so other load on the machine inflates it less).
"""

from __future__ import annotations

import json
import time
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from psp_common import ids
from psp_common.events.intake import IncidentObserved
from psp_common.events.matching import Candidate, SupporterMatched
from psp_common.events.outreach import IncidentFacts, OutreachRequested, RuleHit
from psp_common.events.status import OutreachStatusChanged
from psp_common.events.vocab import StaffRef

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
IDS = [uuid.UUID(int=i) for i in range(1, 8)]


def _staff(n: int) -> tuple[StaffRef, ...]:
    return tuple(StaffRef(pseudonym=f"ps_{i:032x}", key_id="k1", role="rn") for i in range(n))


def incident() -> IncidentObserved:
    """A native report naming two staff, with one CIS flag."""
    return IncidentObserved(
        occurred_at=T0, correlation_id=IDS[0], incident_ref="ir_" + "a" * 40, report_version=1,
        source_kind="native", facility="GEN", unit="ICU", facility_tz="America/New_York", reported_at=T0,
        event_class="incident", category="medication", harm_level="severe", patient_age_group="adult",
        staff=_staff(2), cis_flags=("unexpected_patient_death",),
    )  # fmt: skip


def requested() -> OutreachRequested:
    """What rules publishes for one person (two rules fired), with the incident's facts."""
    return OutreachRequested(
        occurred_at=T0, correlation_id=IDS[0], case_id=IDS[1], incident_ref="ir_" + "a" * 40, report_version=1,
        facility="GEN", unit="ICU", people=_staff(1),
        rules_fired=(RuleHit(rule_id="severe_harm", text="Severe harm to a patient"),
                     RuleHit(rule_id="cis", text="Unexpected patient death")),
        urgency="within_hours", mode="individual", tier=2, ruleset_version="2026.11", requested_at=T0,
        incident=IncidentFacts.of(incident()),
    )  # fmt: skip


def matched() -> SupporterMatched:
    """A primary and three ranked backups."""
    cands = [Candidate(supporter_ref=f"ps_s{i:030x}", score=1.0 - i / 10, reasons=("on shift", "same unit"))
             for i in range(4)]  # fmt: skip
    return SupporterMatched(
        occurred_at=T0, correlation_id=IDS[0], assignment_id=IDS[2], case_id=IDS[1], facility="GEN", unit="ICU",
        supported=("ps_" + "b" * 32,), primary=cands[0], backups=tuple(cands[1:]), urgency="within_hours",
        mode="individual", tier=2,
    )  # fmt: skip


def status() -> OutreachStatusChanged:
    """A 'notified' status."""
    return OutreachStatusChanged(
        occurred_at=T0, correlation_id=IDS[0], case_id=IDS[1], assignment_id=IDS[2], status="notified",
        facility="GEN", unit="ICU", urgency="within_hours", supporter_ref="ps_s" + "0" * 30, channel="webhook",
    )  # fmt: skip


EVENTS: dict[str, Callable[[], Any]] = {
    "IncidentObserved": incident,
    "OutreachRequested": requested,
    "SupporterMatched": matched,
    "OutreachStatusChanged": status,
}


def per_call_us(fn: Callable[[], object], number: int = 2000, repeat: int = 7) -> float:
    """Best of ``repeat`` rounds of ``number`` calls, in CPU microseconds per call (CPU time: waiting for a core
    the other processes hold is not counted)."""
    return min(timeit.repeat(fn, timer=time.process_time, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    print(
        f"{'event':24} {'bytes':>6} {'parse':>8} {'build':>8} {'dump':>8} {'loads':>8}   (us per event, CPU, best of 7)"
    )
    for name, build in EVENTS.items():
        event = build()
        raw = event.model_dump_json().encode()
        model = type(event)
        assert model.model_validate_json(raw) == event
        parse = per_call_us(lambda m=model, r=raw: m.model_validate_json(r))
        made = per_call_us(build)
        dump = per_call_us(lambda e=event: e.__pydantic_serializer__.to_json(e))  # what UnitOfWork.publish does
        loads = per_call_us(lambda r=raw: json.loads(r))  # the floor: json.loads alone, no validation
        print(f"{name:24} {len(raw):6d} {parse:8.1f} {made:8.1f} {dump:8.1f} {loads:8.1f}")
    print(f"{'uuid.uuid4()':24} {'':6} {per_call_us(uuid.uuid4, 20000):8.2f}")
    print(f"{'psp_common.ids.uuid4()':24} {'':6} {per_call_us(ids.uuid4, 20000):8.2f}")


if __name__ == "__main__":
    main()
