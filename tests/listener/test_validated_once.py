"""A report is validated once, as what it becomes (the event, or the draft held for triage), and its correlation id
is the same ``uuid5`` as before the id was computed without ``uuid.uuid5``."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from psp_common.events.intake import IncidentObserved
from psp_listener.adapters.common import correlation_id
from psp_listener.adapters.drafts import IncidentDraft
from psp_listener.domain.triage import TriageReason
from psp_listener.normalizer import Normalizer
from tests.listener.conftest import fixture

REPORT: dict[str, Any] = {
    "source_system": "rl6",
    "report_id": "R-1",
    "version": 2,
    "facility": "GEN",
    "unit": "ICU",
    "occurred_at": "2026-11-23T03:00:00-05:00",
    "event_class": "incident",
    "involved_staff": [{"staff_id": "E100", "role": "rn"}],
    "narrative": "a colleague was assaulted",
}


def _no_draft(*_: Any, **__: Any) -> None:
    raise AssertionError("a complete report built a draft")


@pytest.mark.parametrize("ref", ["ref_0123456789abcdef0123456789abcdef", "", "ünïcode:ref"])
@pytest.mark.parametrize("version", [1, 2, 10_000])
def test_correlation_id_is_the_uuid5_of_reference_and_version(ref: str, version: int) -> None:
    expected = uuid.uuid5(uuid.NAMESPACE_URL, f"psp:{ref}:{version}")
    assert correlation_id(ref, version) == str(expected)


def test_a_complete_native_report_becomes_the_event_without_a_draft(
    norm: Normalizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(IncidentDraft, "__init__", _no_draft)
    event = norm.parse_native(json.dumps(REPORT).encode())
    assert isinstance(event, IncidentObserved)
    assert event.correlation_id == uuid.uuid5(uuid.NAMESPACE_URL, f"psp:{event.incident_ref}:2")
    assert (event.facility, event.unit, event.report_version, event.triaged) == ("GEN", "ICU", 2, False)
    assert len(event.staff) == 1 and event.cis_flags


def test_a_complete_fhir_resource_becomes_the_event_without_a_draft(
    norm: Normalizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(IncidentDraft, "__init__", _no_draft)
    event = norm.fhir(json.dumps(fixture("adverse_event_r5.json")).encode())
    assert isinstance(event, IncidentObserved)


def test_the_event_is_what_completing_the_draft_gives(norm: Normalizer) -> None:
    held = norm.parse_native(json.dumps({**REPORT, "involved_staff": []}).encode())
    assert isinstance(held, IncidentDraft) and held.reasons() == (TriageReason.NO_STAFF,)
    event = norm.parse_native(json.dumps(REPORT).encode())
    assert isinstance(event, IncidentObserved)
    completed = held.complete(event.staff)
    same = {"event_id", "produced_at"}
    assert completed.model_dump(exclude=same) == event.model_dump(exclude=same)
