"""Rules acts only on 'closed' statuses, matching also on a named supporter's 'acknowledged', the listener only on
'colleague_unknown' naming its incident; every other status is acknowledged without a transaction."""

from __future__ import annotations

import uuid

import pytest

from psp_common.events.intake import SourceKind
from psp_common.events.outreach import IncidentFacts
from psp_common.events.status import OutreachStatus, OutreachStatusChanged, UnknownColleagues
from psp_common.events.vocab import EventClass, StaffRef
from psp_listener import unknown_staff as listener
from psp_matching import handlers as matching
from psp_rules import handlers as rules
from tests.clock import TEST_NOW


@pytest.mark.parametrize("status", list(OutreachStatus))
def test_only_closed_and_matchings_acknowledged_are_relevant(status: OutreachStatus) -> None:
    event = OutreachStatusChanged(
        occurred_at=TEST_NOW,
        correlation_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        status=status,
        facility="GEN",
        unit="ICU",
    )
    assert rules.status_is_relevant(event) is (status is OutreachStatus.CLOSED)
    assert matching.status_is_relevant(event) is (status is OutreachStatus.CLOSED)  # no supporter named
    named = event.model_copy(update={"supporter_ref": "ps_x", "assignment_id": uuid.uuid4()})
    # Matching also counts a backup's acknowledgement toward their monthly cap.
    assert matching.status_is_relevant(named) is (status in (OutreachStatus.CLOSED, OutreachStatus.ACKNOWLEDGED))
    assert listener.is_unknown_colleague(event) is False  # without the incident it names, nothing to hold
    facts = IncidentFacts(source_kind=SourceKind.NATIVE, event_class=EventClass.INCIDENT)
    who = (StaffRef(pseudonym="ps_someone", key_id="k"),)
    unknown = UnknownColleagues(
        incident_ref="r", report_version=1, incident_occurred_at=TEST_NOW, people=who, incident=facts
    )
    told = event.model_copy(update={"unknown": unknown})
    assert listener.is_unknown_colleague(told) is (status is OutreachStatus.COLLEAGUE_UNKNOWN)
    assert rules.status_is_relevant(told) is rules.status_is_relevant(event)


def test_the_status_subscriptions_use_the_filter() -> None:
    import inspect

    from psp_matching.entrypoints import consumers as matching_consumers
    from psp_rules.entrypoints import consumers as rules_consumers

    for module in (rules_consumers, matching_consumers):
        assert "relevant=handlers.status_is_relevant" in inspect.getsource(module.register)
    from psp_listener.entrypoints import consumers as listener_consumers

    assert "relevant=unknown_staff.is_unknown_colleague" in inspect.getsource(listener_consumers)
