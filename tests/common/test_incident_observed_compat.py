"""Forward compatibility of IncidentObserved: the flags added after its first consumers (``historical``,
``triaged``) are left out of the JSON when false, so a consumer built before them (its own copy of the model,
``extra="forbid"``) keeps accepting every live, undispatched incident; the current model reads them back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError, create_model

from psp_common.events.envelope import Envelope
from psp_common.events.intake import IncidentObserved
from tests.clock import TEST_NOW
from tests.rules.helpers import observed

ADDED_LATER = ("historical", "triaged")


def _old_model() -> type[Envelope]:
    """IncidentObserved as a consumer built before the flags knows it (a copy without them)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in IncidentObserved.model_fields.items()
        if name not in ADDED_LATER and name not in Envelope.model_fields
    }
    return create_model("IncidentObservedBefore", __base__=Envelope, **fields)


def test_a_live_incident_serializes_without_the_flags_and_an_older_consumer_accepts_it() -> None:
    event = observed("ref_compat", ids=("E-1",), occurred_at=TEST_NOW)
    body = event.model_dump_json()
    assert not set(ADDED_LATER) & set(json.loads(body))
    assert _old_model().model_validate_json(body).event_id == event.event_id
    assert IncidentObserved.model_validate_json(body) == event


@pytest.mark.parametrize("flag", ADDED_LATER)
def test_a_set_flag_is_sent_read_back_and_refused_by_an_older_consumer(flag: str) -> None:
    event = observed("ref_compat", ids=("E-1",), occurred_at=TEST_NOW).model_copy(update={flag: True})
    body = event.model_dump_json()
    assert json.loads(body)[flag] is True
    assert getattr(IncidentObserved.model_validate_json(body), flag) is True
    with pytest.raises(ValidationError):  # an older consumer must not silently page a historical/triaged event
        _old_model().model_validate_json(body)
