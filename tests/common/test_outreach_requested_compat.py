"""Forward compatibility of OutreachRequested: the fields added after its first consumers (``requested_at``,
``referral``) are left out of the JSON when None, so a consumer built before them (its own copy of the model,
``extra="forbid"``) keeps accepting every event that does not use them; the current model reads both back."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError, create_model

from psp_common.events.envelope import Envelope
from psp_common.events.outreach import OutreachRequested, RuleHit
from psp_common.events.referral import ReferralFacts, ReferralKind, ReferralPolicy
from psp_common.events.vocab import StaffRef
from tests.clock import TEST_NOW

ADDED_LATER = ("requested_at", "referral")


def _old_model() -> type[Envelope]:
    """OutreachRequested as a consumer built before the added fields knows it (a copy without them)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in OutreachRequested.model_fields.items()
        if name not in ADDED_LATER and name not in Envelope.model_fields
    }
    return create_model("OutreachRequestedBefore", __base__=Envelope, **fields)


def _event(**over: Any) -> OutreachRequested:
    values: dict[str, Any] = {
        "occurred_at": TEST_NOW,
        "produced_at": TEST_NOW,
        "correlation_id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "incident_ref": "ref_x",
        "report_version": 1,
        "facility": "GEN",
        "unit": "ICU",
        "people": (StaffRef(pseudonym="ps_colleague1", key_id="k1"),),
        "rules_fired": (RuleHit(rule_id="harm.death", text="Patient death"),),
        "urgency": "immediate",
        "mode": "individual",
        "tier": 2,
        "ruleset_version": "v1",
    }
    return OutreachRequested(**(values | over))


def test_an_event_without_referral_serializes_without_the_key_and_an_older_consumer_accepts_it() -> None:
    event = _event()
    body = event.model_dump_json()
    assert not set(ADDED_LATER) & set(json.loads(body))
    old = _old_model()
    assert old.model_config.get("extra") == "forbid"
    assert old.model_validate_json(body).model_dump() == {
        k: v for k, v in event.model_dump().items() if k not in ADDED_LATER
    }
    assert OutreachRequested.model_validate_json(body) == event  # absent reads back as None


def test_the_added_fields_are_sent_when_set_and_read_back() -> None:
    facts = ReferralFacts(kind=ReferralKind.COLLEAGUE, policy=ReferralPolicy.REACH_OUT, offer=True)
    event = _event(requested_at=TEST_NOW, referral=facts)
    body = json.loads(event.model_dump_json())
    assert body["referral"] == {"kind": "colleague", "policy": "reach_out", "offer": True, "contacts_referrer": False}
    assert "requested_at" in body
    assert OutreachRequested.model_validate_json(event.model_dump_json()) == event
    with pytest.raises(ValidationError, match="referral"):  # an older consumer cannot read what it never knew
        _old_model().model_validate_json(_event(referral=facts).model_dump_json())


def test_omitting_none_leaves_the_published_schema_unchanged() -> None:
    """The AsyncAPI document describes both fields as optional whichever mode its schema is taken in."""
    serialization = OutreachRequested.model_json_schema(mode="serialization")
    assert serialization == OutreachRequested.model_json_schema(mode="validation")
    assert set(ADDED_LATER) <= set(serialization["properties"]) and not set(ADDED_LATER) & set(
        serialization.get("required", [])
    )
