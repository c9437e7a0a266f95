"""Events for unknown staff: rules -> notification -> 'colleague_unknown' -> the listener's triage -> dispatch -> rules.

Each service through its real handlers, its own SQLite database and outbox (the listener's status subscriber via
FastStream's TestKafkaBroker): a case whose colleague is not in notification's contacts directory goes on (status
unchanged), and the incident is held once (a redelivery changes nothing; other statuses are ignored) with reason
'unknown_staff', showing facility, unit, time and event class and no pseudonym of the unknown person. The
coordinator must attach someone; the dispatch carries the incident's codes, so rules decide it again as before and
open a case for the person attached; triage stats count it by reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker
from sqlalchemy import select

from psp_common import topics
from psp_common.events.intake import IncidentObserved
from psp_common.events.outreach import OutreachRequested
from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_listener.adapters.orm import outbox as listener_outbox
from psp_listener.adapters.repository import ReportRepository, ReportRow
from psp_listener.bootstrap import MIGRATIONS as LISTENER_MIGRATIONS
from psp_listener.bootstrap import build as build_listener
from psp_listener.settings import ListenerSettings
from psp_notification import consumed as notification_consumed
from psp_notification.adapters.directory import DirectoryRepository
from psp_notification.adapters.orm import cases
from psp_notification.domain.directory import DirectoryEntry
from psp_rules import handlers as rules
from psp_rules.adapters.orm import metadata as rules_metadata
from psp_rules.adapters.orm import outbox as rules_outbox
from psp_rules.adapters.ruleset_schema import load_file
from psp_rules.bootstrap import MIGRATIONS as RULES_MIGRATIONS
from psp_rules.settings import RulesSettings
from tests.notification.support import Env, app_env
from tests.rules.helpers import OCCURRED, observed, staff
from tests.support import client_for

CFG = rules.RulesConfig.from_settings(RulesSettings(), load_file())
HANDLED = OCCURRED + timedelta(minutes=5)


@dataclass
class Stack:
    rules: Runtime
    notification: Env
    listener: FastAPI


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    rules_url, listener_url = f"sqlite+aiosqlite:///{tmp_path}/r.db", f"sqlite+aiosqlite:///{tmp_path}/l.db"
    await upgrade_async(RULES_MIGRATIONS, rules_url)
    await upgrade_async(LISTENER_MIGRATIONS, listener_url)
    rt = Runtime(RulesSettings(database_url=rules_url), rules_metadata, RULES_MIGRATIONS)
    listener = build_listener(ListenerSettings(database_url=listener_url, kafka_create_topics=False))
    async with app_env(f"sqlite+aiosqlite:///{tmp_path}/n.db") as env:
        yield Stack(rt, env, listener)
    await rt.engine.dispose()
    await listener.state.runtime.engine.dispose()


async def decide(s: Stack, event: IncidentObserved) -> list[OutreachRequested]:
    """Rules decide ``event``; the OutreachRequested events queued so far."""
    async with s.rules.uow() as uow:
        await rules.on_incidents([event], uow, CFG, HANDLED)
        await uow.commit()
    async with s.rules.session() as db:
        q = select(rules_outbox.c.payload).where(rules_outbox.c.topic == topics.OUTREACH_REQUESTED)
        return [OutreachRequested.model_validate_json(p) for p in (await db.execute(q.order_by(rules_outbox.c.id)))
                .scalars()]  # fmt: skip


async def known_in_directory(s: Stack, pseudonym: str) -> None:
    env = s.notification
    async with env.c.runtime.uow() as uow:
        entry = DirectoryEntry(display_name="Known Colleague", phone="+1 555 0100")
        await DirectoryRepository(uow.session).save([pseudonym], "k1", entry, "test", env.clock.now())
        await uow.commit()


async def deliver(s: Stack, *bodies: dict[str, Any]) -> None:
    """Each body on psp.outreach-status.v1, through the listener's own subscriber."""
    async with TestKafkaBroker(s.listener.state.runtime.broker) as broker:
        for body in bodies:
            await broker.publish(json.dumps(body).encode(), topics.OUTREACH_STATUS, key=b"k")


async def dispatched(s: Stack) -> list[IncidentObserved]:
    async with s.listener.state.runtime.session() as db:
        q = select(listener_outbox.c.payload).where(listener_outbox.c.topic == topics.INCIDENT_OBSERVED)
        return [IncidentObserved.model_validate_json(p) for p in (await db.execute(q)).scalars()]


async def test_an_unknown_colleague_is_held_for_the_coordinator_who_attaches_the_right_person(stack: Stack) -> None:
    s = stack
    known, stranger = staff("E1", "E2")
    incident = observed(ids=("E1", "E2"), category="fall")  # harm: death, two people: a case each
    opened = await decide(s, incident)
    assert len(opened) == 2 and all(o.incident is not None for o in opened)
    await known_in_directory(s, known.pseudonym)
    env = s.notification
    for req in opened:
        await env.handle(notification_consumed.requested, req, env.clock.now())
    statuses = await env.published()
    assert [e["status"] for e in statuses].count("colleague_unknown") == 1
    [flag] = [e for e in statuses if e["status"] == "colleague_unknown"]
    stranger_case = next(o.case_id for o in opened if o.people[0].pseudonym == stranger.pseudonym)
    assert flag["case_id"] == str(stranger_case)
    async with env.c.runtime.session() as db:
        assert set((await db.execute(select(cases.c.status))).scalars()) == {"requested"}  # both cases go on

    await deliver(s, *statuses, flag)  # every status (only this one matters), and a redelivery of it
    async with client_for(s.listener) as api:
        page = (await api.get("/v1/triage", params={"reason": "unknown_staff"})).json()
        assert page["total"] == 1 and (await api.get("/v1/triage")).json()["total"] == 1
        item = page["items"][0]
        assert (item["status"], item["reasons"]) == ("open", ["unknown_staff"])
        assert item["incident_ref"] == incident.incident_ref
        place = (item["facility"], item["unit"], item["event_class"], item["category"])
        assert place == ("GEN", "ICU", "incident", "fall")
        assert item["occurred_at"].startswith(OCCURRED.isoformat()[:16]) and item["harm_level"] == "death"
        assert (item["staff_identified"], item["unidentified"]) == (0, ["primary"])
        text = json.dumps(item)
        assert stranger.pseudonym not in text and known.pseudonym not in text  # no pseudonym offered as a lead

        path = f"/v1/triage/{item['id']}:dispatch"
        nobody = await api.post(path, json={"staff": []})
        assert nobody.status_code == 422  # an unknown colleague is only resolved by attaching the right person
        first = await api.post(path, json={"staff": [{"staff_id": "E3", "role": "rn"}]})
        assert first.status_code == 202, first.text
        stats = (await api.get("/v1/triage/stats")).json()
    assert stats["by_reason"] == {"unknown_staff": {"dispatched": 1}}
    [again] = await dispatched(s)
    assert again.triaged and again.incident_ref == incident.incident_ref
    assert (again.harm_level, again.category, again.occurred_at) == (incident.harm_level, "fall", OCCURRED)
    [attached] = again.staff
    assert attached.pseudonym == staff("E3")[0].pseudonym

    # Rules decide the version again with the person attached: their own case, nothing new for the others.
    after = await decide(s, again)
    assert len(after) == 3 and [p.pseudonym for p in after[-1].people] == [attached.pseudonym]
    assert after[-1].change == "opened" and after[-1].urgency == opened[0].urgency


async def test_a_status_for_a_superseded_version_is_counted_not_offered(stack: Stack) -> None:
    s = stack
    opened = await decide(s, observed(ids=("E2",)))
    await known_in_directory(s, staff("E9")[0].pseudonym)
    env = s.notification
    await env.handle(notification_consumed.requested, opened[0], env.clock.now())
    [flag] = [e for e in await env.published() if e["status"] == "colleague_unknown"]
    async with s.listener.state.runtime.uow() as uow:  # the report was amended at the listener meanwhile
        row = ReportRow(opened[0].incident_ref, "native", 2, "GEN")
        await ReportRepository(uow.session).insert_many([row], HANDLED)
        await uow.commit()
    await deliver(s, flag)
    async with client_for(s.listener) as api:
        assert (await api.get("/v1/triage", params={"status": "open"})).json()["total"] == 0
        stats = (await api.get("/v1/triage/stats")).json()
    assert stats["by_reason"] == {"unknown_staff": {"superseded": 1}}
    assert uuid.UUID(flag["case_id"]) == opened[0].case_id
