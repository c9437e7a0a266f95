"""Rules route an incident to a human: rules -> TriageRequested -> the listener's triage -> dispatch -> rules.

Both services through their real handlers and subscribers (FastStream TestKafkaBroker for the listener's consumer,
each service's own SQLite database and outbox): the routed incident is held with reason 'rules' and the rule id,
nothing asks for outreach until the coordinator dispatches it, the dispatch is published once, flagged
``triaged``, and rules then decide it as an ordinary outreach rule, never routing it back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker
from sqlalchemy import select

from psp_common import topics
from psp_common.events.intake import IncidentObserved
from psp_common.events.triage import TriageRequested
from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_listener.adapters.orm import outbox as listener_outbox
from psp_listener.bootstrap import MIGRATIONS as LISTENER_MIGRATIONS
from psp_listener.bootstrap import build as build_listener
from psp_listener.settings import ListenerSettings
from psp_rules import handlers as rules
from psp_rules.adapters.orm import decisions
from psp_rules.adapters.orm import metadata as rules_metadata
from psp_rules.adapters.orm import outbox as rules_outbox
from psp_rules.adapters.ruleset_schema import load_text
from psp_rules.adapters.stats import _count_decisions
from psp_rules.bootstrap import MIGRATIONS as RULES_MIGRATIONS
from psp_rules.settings import RulesSettings
from tests.listener.test_bad_input import NATIVE
from tests.rules.helpers import OCCURRED, observed
from tests.support import client_for

RULESET = """
name: triage-test
rules:
  - id: harm-death
    text: Patient death
    when: {harm_levels_any: [death]}
    urgency: immediate
    tier: 2
  - id: unsafe-condition-ask
    text: Unsafe condition with staff named; a coordinator decides
    when: {event_classes_any: [unsafe_condition]}
    urgency: within_days
    tier: 1
    route: triage
  - id: violence-ask-too
    text: Violence; outreach now, and the coordinator checks who else was there
    when: {categories_any: [violence]}
    urgency: within_hours
    tier: 2
    route: outreach_and_triage
"""
CFG = rules.RulesConfig.from_settings(RulesSettings(), load_text(RULESET))
HANDLED = OCCURRED + timedelta(minutes=5)


@dataclass
class Stack:
    rules: Runtime
    listener: FastAPI
    dead: list[Any]


@pytest.fixture
async def stack(tmp_path: Any) -> AsyncIterator[Stack]:
    rules_url, listener_url = f"sqlite+aiosqlite:///{tmp_path}/r.db", f"sqlite+aiosqlite:///{tmp_path}/l.db"
    await upgrade_async(RULES_MIGRATIONS, rules_url)
    await upgrade_async(LISTENER_MIGRATIONS, listener_url)
    rt = Runtime(RulesSettings(database_url=rules_url), rules_metadata, RULES_MIGRATIONS)
    app = build_listener(ListenerSettings(database_url=listener_url, kafka_create_topics=False))
    dead: list[Any] = []

    @app.state.runtime.broker.subscriber(topics.DEAD_LETTER)
    async def _dlq(body: Any) -> None:
        dead.append(body)

    yield Stack(rt, app, dead)
    await rt.engine.dispose()
    await app.state.runtime.engine.dispose()


async def decide(s: Stack, event: IncidentObserved) -> rules.Plan:
    async with s.rules.uow() as uow:
        (p,) = await rules.on_incidents([event], uow, CFG, HANDLED)
        await uow.commit()
    return p


async def rules_out(s: Stack, topic: str) -> list[dict[str, Any]]:
    async with s.rules.session() as db:
        q = select(rules_outbox.c.payload).where(rules_outbox.c.topic == topic).order_by(rules_outbox.c.id)
        return [json.loads(p) for p in (await db.execute(q)).scalars()]


async def listener_out(s: Stack) -> list[dict[str, Any]]:
    async with s.listener.state.runtime.session() as db:
        q = select(listener_outbox.c.payload).where(listener_outbox.c.topic == topics.INCIDENT_OBSERVED)
        return [json.loads(p) for p in (await db.execute(q.order_by(listener_outbox.c.id))).scalars()]


async def deliver(s: Stack, *bodies: bytes) -> None:
    """Each body on psp.rules.triage-requested.v1, through the listener's own subscriber."""
    async with TestKafkaBroker(s.listener.state.runtime.broker) as broker:
        for body in bodies:
            await broker.publish(body, topics.TRIAGE_REQUESTED, key=b"k")


async def test_a_triage_rule_holds_the_incident_until_a_coordinator_dispatches_it(stack: Stack) -> None:
    s = stack
    incident = observed(ids=("E1", "E2"), event_class="unsafe_condition", harm_level=None)
    p = await decide(s, incident)
    assert p.decision.outcome == "routed to triage" and p.decision.evaluation.hits == ()
    assert await rules_out(s, topics.OUTREACH_REQUESTED) == []
    routed = await rules_out(s, topics.TRIAGE_REQUESTED)
    assert len(routed) == 1 and [h["rule_id"] for h in routed[0]["rules_fired"]] == ["unsafe-condition-ask"]
    assert routed[0]["incident"]["incident_ref"] == incident.incident_ref
    async with s.rules.session() as db:
        key = (await db.execute(select(rules_outbox.c.key))).scalar_one()
    assert key == incident.incident_ref

    # Delivered twice (a redelivery) and once malformed: one item, one dead letter naming the field.
    body = json.dumps(routed[0]).encode()
    malformed = json.dumps({**routed[0], "event_id": routed[0]["event_id"][:8], "rules_fired": []}).encode()
    await deliver(s, body, body, malformed)
    assert len(s.dead) == 1
    async with client_for(s.listener) as api:
        page = (await api.get("/v1/triage", params={"reason": "rules"})).json()
        assert page["total"] == 1
        item = page["items"][0]
        assert (item["status"], item["reasons"], item["rules"]) == ("open", ["rules"], ["unsafe-condition-ask"])
        assert (item["staff_identified"], item["facility"], item["event_class"]) == (2, "GEN", "unsafe_condition")
        assert item["source_id"] is None

        # The coordinator dispatches it as it is (its staff are identified): published once, flagged triaged.
        path = f"/v1/triage/{item['id']}:dispatch"
        first = await api.post(path, json={})
        assert first.status_code == 202, first.text
        assert (await api.post(path, json={})).status_code == 200
        stats = (await api.get("/v1/triage/stats")).json()
    assert stats["by_reason"] == {"rules": {"dispatched": 1}}
    dispatched = await listener_out(s)
    assert len(dispatched) == 1 and dispatched[0]["triaged"] is True
    assert {x["pseudonym"] for x in dispatched[0]["staff"]} == {x.pseudonym for x in incident.staff}

    # Rules decide the same report version again, the triage rule acting as an outreach rule, and do not route
    # it back; a replay of the dispatch (another event id) changes nothing.
    again = IncidentObserved.model_validate(dispatched[0])
    p = await decide(s, again)
    assert [h.rule_id for h in p.decision.evaluation.hits] == ["unsafe-condition-ask"]
    assert p.decision.evaluation.triage == ()
    requested = await rules_out(s, topics.OUTREACH_REQUESTED)
    assert len(requested) == 2 and {r["urgency"] for r in requested} == {"within_days"}
    await decide(s, again.model_copy(update={"event_id": uuid.uuid4()}))
    assert len(await rules_out(s, topics.OUTREACH_REQUESTED)) == 2
    assert len(await rules_out(s, topics.TRIAGE_REQUESTED)) == 1
    async with s.rules.session() as db:
        outs = list((await db.execute(select(decisions.c.outcome).order_by(decisions.c.id))).scalars())
    assert outs == ["routed to triage", "outreach requested", "no change: already covered"]


async def test_outreach_and_triage_does_both_and_a_plain_resend_is_not_decided_twice(stack: Stack) -> None:
    s = stack
    incident = observed(ids=("E1",), harm_level=None, category="violence")
    p = await decide(s, incident)
    assert p.decision.outcome == "outreach requested; routed to triage"
    assert len(await rules_out(s, topics.OUTREACH_REQUESTED)) == 1
    assert len(await rules_out(s, topics.TRIAGE_REQUESTED)) == 1
    resent = incident.model_copy(update={"event_id": uuid.uuid4()})
    assert (await decide(s, resent)).decision.outcome == "no change: version already decided"
    assert len(await rules_out(s, topics.TRIAGE_REQUESTED)) == 1


async def test_a_historical_incident_is_never_routed_to_triage(stack: Stack) -> None:
    s = stack
    p = await decide(s, observed(event_class="unsafe_condition", harm_level=None, historical=True))
    assert p.decision.outcome.startswith("not paged (historical import)")
    assert await rules_out(s, topics.TRIAGE_REQUESTED) == []


async def test_a_routed_item_of_a_superseded_version_is_counted_not_offered(stack: Stack) -> None:
    s = stack
    v1 = observed(version=1, event_class="unsafe_condition", harm_level=None)
    await decide(s, v1)
    routed = TriageRequested.model_validate((await rules_out(s, topics.TRIAGE_REQUESTED))[0])
    async with client_for(s.listener) as api:
        native = {**NATIVE, "report_id": "R-9", "version": 2, "event_class": "unsafe_condition"}
        r = await api.post("/v1/occurrence-reports", json=native)
        assert r.status_code == 202, r.text
        ref = r.json()["incident_ref"]
        newer = routed.model_copy(update={"incident": routed.incident.model_copy(update={"incident_ref": ref})})
        await deliver(s, newer.model_dump_json().encode())
        page = (await api.get("/v1/triage", params={"reason": "rules"})).json()
        stats = (await api.get("/v1/triage/stats")).json()
    assert [i["status"] for i in page["items"]] == ["superseded"]
    assert stats["by_reason"]["rules"] == {"superseded": 1} and "rules" not in stats["open_by_reason"]


async def test_rules_stats_count_the_routed_decision(stack: Stack) -> None:
    await decide(stack, observed(event_class="unsafe_condition", harm_level=None))
    async with stack.rules.session() as db:
        q = select(decisions.c.fired, decisions.c.detail, decisions.c.urgency, decisions.c.mode, decisions.c.facility)
        rows = list((await db.execute(q)).all())
    assert _count_decisions(rows)["by_action"] == {"routed to triage": 1}
