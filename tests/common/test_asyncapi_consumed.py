"""Each service's AsyncAPI shows the schema of every topic it consumes, and FastStream does not validate it.

The subscribers hand FastStream the undecoded bytes (parsing is ours, so poison reaches the dead-letter topic);
the documented payload is the model the handler parses each record into.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from fhir.resources.adverseevent import AdverseEvent as AdverseEventR5
from fhir.resources.R4B.adverseevent import AdverseEvent as AdverseEventR4
from pydantic import BaseModel, Field

from psp_common import topics
from psp_common.docs import documents
from psp_common.events.envelope import Envelope
from psp_common.events.intake import IncidentObserved
from psp_common.events.matching import SupporterMatched, SupporterUnmatched
from psp_common.events.outreach import OutreachRequested
from psp_common.events.referral import ReferralObserved
from psp_common.events.status import OutreachStatusChanged
from psp_common.events.triage import TriageRequested
from psp_common.kafka import DeadLetters, make_broker, subscribe_events
from psp_common.settings import ServiceSettings
from psp_common.stack import SERVICES
from psp_listener.adapters.huddles import HuddleEntryV1
from psp_listener.adapters.referrals import ReferralV1
from psp_listener.adapters.schemas import OccurrenceReportV1
from tests.clock import TEST_NOW
from tests.support import one_by_one

# What one record of each consumed topic holds (one of these models).
CONSUMED: dict[str, tuple[type[BaseModel], ...]] = {
    topics.OCCURRENCE_REPORTS: (OccurrenceReportV1,),
    topics.FHIR_ADVERSE_EVENTS: (AdverseEventR5, AdverseEventR4),
    topics.SAFETY_HUDDLES: (HuddleEntryV1,),
    topics.REFERRALS: (ReferralV1,),
    topics.REFERRAL_OBSERVED: (ReferralObserved,),
    topics.INCIDENT_OBSERVED: (IncidentObserved,),
    topics.OUTREACH_REQUESTED: (OutreachRequested,),
    topics.OUTREACH_STATUS: (OutreachStatusChanged,),
    topics.SUPPORTER_MATCHED: (SupporterMatched,),
    topics.SUPPORTER_UNMATCHED: (SupporterUnmatched,),
    topics.TRIAGE_REQUESTED: (TriageRequested,),
}


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _payload(doc: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    message = _resolve(doc, operation["messages"][0]["$ref"])
    if "$ref" in message:
        message = _resolve(doc, message["$ref"])
    payload: dict[str, Any] = message["payload"]
    return _resolve(doc, payload["$ref"]) if "$ref" in payload else payload


def _shows(schema: dict[str, Any], model: type[BaseModel]) -> bool:
    """Whether ``schema`` (or one of its alternatives) lists the model's properties and required ones."""
    wanted = model.model_json_schema(by_alias=True)
    for option in [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]:
        properties = option.get("properties", {})
        if set(wanted.get("required", [])) <= set(option.get("required", [])) and set(wanted["properties"]) <= set(
            properties
        ):
            return True
    return False


@pytest.mark.parametrize("service", SERVICES)
def test_every_consumed_channel_shows_its_model(service: str) -> None:
    doc = documents(service)[f"{service}.asyncapi.json"]
    received = [op for op in doc["operations"].values() if op["action"] == "receive"]
    assert received, f"{service} documents no subscriber"
    for operation in received:
        channel = _resolve(doc, operation["channel"]["$ref"])
        models = CONSUMED.get(channel["address"])
        assert models, f"{service} consumes {channel['address']}: add the model it carries to CONSUMED"
        payload = _payload(doc, operation)
        for model in models:
            assert _shows(payload, model), f"{service}: {channel['address']} payload lacks {model.__name__}'s fields"


class Ping(Envelope):
    """Test event."""

    n: int = Field(description="A number.")


class Sent:
    """Dead letters sent, in order."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def __call__(self, body: bytes, *, reason: str, **_: Any) -> None:
        self.reasons.append(reason)


@pytest.mark.parametrize("batch_max", [1, 100])
async def test_typed_subscriber_still_dead_letters_malformed_records(batch_max: int) -> None:
    """FastStream does not validate the documented model itself: a malformed record reaches our dead letters."""
    settings = ServiceSettings(kafka_batch_max=batch_max, retry_backoff_s=0.0)
    broker = make_broker(settings)
    dead = DeadLetters(broker, "test")
    sent = Sent()
    dead.send = sent  # type: ignore[method-assign]
    handled: list[int] = []

    async def handler(event: Ping, uow: Any) -> None:
        handled.append(event.n)

    class NoUow:
        async def __aenter__(self) -> NoUow:
            return self

        async def __aexit__(self, *_: object) -> None:
            return None

        async def claim(self, *_: object) -> None:
            return None

        async def claim_many(self, ids: list[str], _topic: str) -> set[str]:
            return set(ids)

        async def commit(self) -> None:
            return None

    subscribe_events(
        broker,
        topic="t.typed",
        group_id="g",
        model=Ping,
        handler_many=one_by_one(handler),
        uow_factory=NoUow,  # type: ignore[arg-type]
        settings=settings,
        dead_letters=dead,
    )
    good = Ping(occurred_at=TEST_NOW, correlation_id=uuid.UUID(int=1), n=7)
    async with TestKafkaBroker(broker) as br:
        await br.publish(b"not json", "t.typed")
        await br.publish(b'{"n": "x"}', "t.typed")
        await br.publish(good.model_dump_json().encode(), "t.typed")
    assert handled == [7]
    assert len(sent.reasons) == 2 and all(r.startswith("validation failed") for r in sent.reasons)
