"""Rules over a real broker and PostgreSQL: incident in -> OutreachRequested out, dedupe, dead letters."""

from __future__ import annotations

import uuid

import pytest

from psp_common import topics
from psp_common.events.outreach import OutreachRequested
from psp_common.events.vocab import CisTrigger
from psp_rules.bootstrap import build
from psp_rules.settings import RulesSettings
from tests.rules.helpers import observed
from tests.support import produce, read_topic, running

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_incident_to_outreach_dedupe_and_dead_letter(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    settings = RulesSettings(kafka_bootstrap=kafka_bootstrap, database_url=pg_url, kafka_idempotence=kafka_idempotence)
    ref = f"ref_{uuid.uuid4().hex}"
    marker_ref = f"ref_{uuid.uuid4().hex}"
    poison = uuid.uuid4().hex
    event = observed(ref, ids=("E-1",), harm_level="death")
    follow = observed(marker_ref, ids=("E-2",), harm_level=None, cis_flags=(CisTrigger.LINE_OF_DUTY_DEATH,))
    async with running(build(settings)) as client:
        await produce(kafka_bootstrap, topics.INCIDENT_OBSERVED, event.model_dump_json().encode(), ref.encode())
        first = await read_topic(
            kafka_bootstrap, topics.OUTREACH_REQUESTED, match=lambda m: m["value"]["incident_ref"] == ref
        )
        # Same event id again, then poison and a marker on the same partition: once the marker's outreach
        # arrives, the duplicate and the poison have been consumed.
        await produce(kafka_bootstrap, topics.INCIDENT_OBSERVED, event.model_dump_json().encode(), ref.encode())
        await produce(kafka_bootstrap, topics.INCIDENT_OBSERVED, b'{"broken' + poison.encode(), ref.encode())
        await produce(kafka_bootstrap, topics.INCIDENT_OBSERVED, follow.model_dump_json().encode(), ref.encode())
        marker = await read_topic(
            kafka_bootstrap, topics.OUTREACH_REQUESTED, match=lambda m: m["value"]["incident_ref"] == marker_ref
        )
        dead = await read_topic(kafka_bootstrap, topics.DEAD_LETTER, match=lambda m: poison.encode() in m["raw"])
        decisions = (await client.get("/v1/decisions", params={"incident_ref": ref})).json()["items"]
        again = await read_topic(
            kafka_bootstrap,
            topics.OUTREACH_REQUESTED,
            count=2,
            timeout=3,
            match=lambda m: m["value"]["incident_ref"] == ref,
        )
        rulesets = (await client.get("/v1/rulesets")).json()
    out = OutreachRequested.model_validate_json(first[0]["raw"])
    assert first[0]["key"].decode() == str(out.case_id)
    assert out.people[0].pseudonym == event.staff[0].pseudonym and out.urgency == "immediate"
    assert out.rules_fired[0].rule_id == "harm-death" and out.ruleset_version == "default:1"
    assert out.correlation_id == event.correlation_id and out.mode == "individual"
    assert marker and marker[0]["value"]["tier"] == 3
    assert len(again) == 1 and len(decisions) == 1 and decisions[0]["outcome"] == "outreach requested"
    assert dead[0]["headers"]["x-dlq-source-topic"] == topics.INCIDENT_OBSERVED
    assert dead[0]["headers"]["x-dlq-service"] == "rules"
    assert [s["scope"] for s in rulesets["scopes"]] == ["default"]
