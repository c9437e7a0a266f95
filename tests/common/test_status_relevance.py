"""Rules acts only on 'closed' statuses, matching also on a named supporter's 'acknowledged'; every other status is
acknowledged without a transaction."""

from __future__ import annotations

import uuid

import pytest

from psp_common.events.status import OutreachStatus, OutreachStatusChanged
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


def test_the_status_subscriptions_use_the_filter() -> None:
    import inspect

    from psp_matching.entrypoints import consumers as matching_consumers
    from psp_rules.entrypoints import consumers as rules_consumers

    for module in (rules_consumers, matching_consumers):
        assert "relevant=handlers.status_is_relevant" in inspect.getsource(module.register)
