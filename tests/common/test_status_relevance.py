"""Rules and matching act only on 'closed' statuses; every other status is acknowledged without a transaction."""

from __future__ import annotations

import uuid

import pytest

from psp_common.events.envelope import utcnow
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_matching import handlers as matching
from psp_rules import handlers as rules


@pytest.mark.parametrize("status", list(OutreachStatus))
def test_only_closed_is_relevant_to_rules_and_matching(status: OutreachStatus) -> None:
    event = OutreachStatusChanged(
        occurred_at=utcnow(),
        correlation_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        status=status,
        facility="GEN",
        unit="ICU",
    )
    expected = status is OutreachStatus.CLOSED
    assert rules.status_is_relevant(event) is expected
    assert matching.status_is_relevant(event) is expected


def test_the_status_subscriptions_use_the_filter() -> None:
    import inspect

    from psp_matching.entrypoints import consumers as matching_consumers
    from psp_rules.entrypoints import consumers as rules_consumers

    for module in (rules_consumers, matching_consumers):
        assert "relevant=handlers.status_is_relevant" in inspect.getsource(module.register)
