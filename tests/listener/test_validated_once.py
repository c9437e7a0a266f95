"""A native report's incident is validated once on its way to the outbox: as the published event (or, held for
triage, as the draft), not first as a draft and then again as the event. The event's contract still holds: a
value it rejects never becomes an event."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from psp_common.events.intake import IncidentObserved
from psp_listener.adapters.drafts import IncidentDraft
from psp_listener.adapters.schemas import OccurrenceReportV1
from tests.listener.conftest import make_normalizer


def report(**over: Any) -> OccurrenceReportV1:
    body = {
        "source_system": "rl6",
        "report_id": "R-1",
        "facility": "GEN",
        "unit": "ICU",
        "occurred_at": "2026-11-23T03:00:00-05:00",
        "event_class": "incident",
        "involved_staff": [{"staff_id": "E100"}],
    }
    return OccurrenceReportV1.model_validate({**body, **over})


class CountingValidator:
    """Stands in for a model's pydantic validator and counts its validations."""

    def __init__(self, model: type[BaseModel], counts: Counter[str]) -> None:
        self._inner, self._name, self._counts = model.__pydantic_validator__, model.__name__, counts

    def validate_python(self, *args: Any, **kwargs: Any) -> Any:
        self._counts[self._name] += 1
        return self._inner.validate_python(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    for model in (IncidentDraft, IncidentObserved):
        monkeypatch.setattr(model, "__pydantic_validator__", CountingValidator(model, counts))
    return counts


def test_a_complete_report_is_validated_once_as_the_event(validations: Counter[str]) -> None:
    event = make_normalizer().native(report())
    assert isinstance(event, IncidentObserved)
    assert validations == Counter({"IncidentObserved": 1})


def test_a_held_report_is_validated_once_as_the_draft(validations: Counter[str]) -> None:
    draft = make_normalizer().native(report(facility=None))  # no facility and no default: held for triage
    assert isinstance(draft, IncidentDraft) and draft.facility is None
    assert validations == Counter({"IncidentDraft": 1})


def test_a_value_the_event_rejects_never_becomes_an_event() -> None:
    norm = make_normalizer()
    norm.settings.default_unit = ""  # past the settings' own check: only the event's contract is left
    with pytest.raises(ValidationError) as caught:
        norm.native(report(unit=None))
    assert [e["loc"] for e in caught.value.errors()] == [("unit",)]
