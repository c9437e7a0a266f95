"""Every timestamp an event carries must name its time zone, and pydantic checks that itself: no Python validator
is called out of pydantic-core for each timestamp of each event built or consumed."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from psp_common.events import feed, intake, matching, outreach, referral, status, triage
from psp_common.events.envelope import Envelope
from tests.clock import TEST_NOW

MODULES = (feed, intake, matching, outreach, referral, status, triage)


def event_models() -> list[type[BaseModel]]:
    found = {Envelope}
    for module in MODULES:
        found |= {v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Envelope)}
    return sorted(found, key=lambda m: m.__name__)


class NoOffset(tzinfo):
    """A time zone that does not know its offset: as good as none."""

    def utcoffset(self, _dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, _dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, _dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize("model", event_models(), ids=lambda m: m.__name__)
def test_event_timestamps_need_no_python_validator(model: type[BaseModel]) -> None:
    core = repr(model.__pydantic_core_schema__)
    assert not re.findall(r"'type': '(function-[a-z]+)'", core)


@pytest.mark.parametrize(
    "when",
    [TEST_NOW.replace(tzinfo=None), TEST_NOW.replace(tzinfo=NoOffset()), "2026-11-23T03:00:00"],
    ids=["naive", "no-offset", "json-naive"],
)
def test_a_timestamp_without_a_time_zone_is_rejected(when: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        Envelope(occurred_at=when, correlation_id=uuid.uuid4())
    assert [e["loc"] for e in caught.value.errors()] == [("occurred_at",)]
    ok = Envelope(occurred_at=TEST_NOW.astimezone(timezone(timedelta(hours=-5))), correlation_id=uuid.uuid4())
    assert ok.occurred_at == TEST_NOW
