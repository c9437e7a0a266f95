"""A colleague to reach is not in the contacts directory: notification publishes 'colleague_unknown' (the incident's
reference and codes, the pseudonyms it lacks; no names, no contact details) so the listener holds the incident for
the coordinator, while the case goes on as usual (status unchanged, supporter paged). Not for a referral, an
escalation, a known colleague, or a site with no directory imported."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import select

from psp_common import topics
from psp_common.events.intake import SourceKind
from psp_common.events.outreach import IncidentFacts, OutreachRequested
from psp_common.events.referral import ReferralFacts, ReferralKind
from psp_common.events.status import OutreachStatusChanged
from psp_common.events.vocab import EventClass, HarmLevel, Involvement, StaffRef
from psp_notification import consumed
from psp_notification.adapters.directory import DirectoryRepository
from psp_notification.adapters.orm import cases
from psp_notification.domain.directory import DirectoryEntry
from tests.notification.support import T0, Env, app_env, matched
from tests.notification.test_feeds import requested
from tests.notification.test_set_based import Subscribers
from tests.statements import counting

FACTS = IncidentFacts(
    source_kind=SourceKind.NATIVE, event_class=EventClass.INCIDENT, harm_level=HarmLevel.DEATH, category="fall"
)
KNOWN = StaffRef(pseudonym="ps_known", key_id="k1", role="rn")
STRANGER = StaffRef(pseudonym="ps_stranger", key_id="k1", role="rt", involvement=Involvement.AFFECTED)


async def with_directory(env: Env, *refs: str) -> None:
    async with env.c.runtime.uow() as uow:
        for i, ref in enumerate(refs):
            entry = DirectoryEntry(display_name=f"Person {i}", phone=f"+1 555 0100 {i}")
            await DirectoryRepository(uow.session).save([ref], "k1", entry, "test", env.clock.now())
        await uow.commit()


def request(people: tuple[StaffRef, ...], **over: Any) -> OutreachRequested:
    base = requested(T0)
    return OutreachRequested.model_validate({**base.model_dump(), "people": people, "incident": FACTS, **over})


async def unknown_statuses(env: Env) -> list[OutreachStatusChanged]:
    events = [OutreachStatusChanged.model_validate(e) for e in await env.published()]
    return [e for e in events if e.status.value == "colleague_unknown"]


async def test_a_colleague_missing_from_the_directory_is_published_for_triage(env: Env) -> None:
    await with_directory(env, KNOWN.pseudonym)
    req = request((KNOWN, STRANGER))
    await env.handle(consumed.requested, req, env.clock.now())
    [status] = await unknown_statuses(env)
    assert status.case_id == req.case_id and status.facility == "GEN" and status.unit == "ICU"
    assert status.detail == "1 of 2 not in the contacts directory"
    u = status.unknown
    assert u is not None and u.incident_ref == req.incident_ref and u.report_version == req.report_version
    assert u.incident_occurred_at == req.occurred_at and u.incident == FACTS
    assert [p.pseudonym for p in u.people] == ["ps_stranger"] and u.people[0].involvement is Involvement.AFFECTED
    assert "Person" not in status.model_dump_json()  # nothing from the directory on the bus
    async with env.c.runtime.session() as s:
        assert (await s.execute(select(cases.c.status).where(cases.c.case_id == str(req.case_id)))).scalar_one() == (
            "requested"
        )  # the case goes on: its status is not moved
    m = matched(case_id=req.case_id, correlation_id=req.correlation_id)
    await env.handle(consumed.matched, m, env.c.settings, env.clock.now())
    await env.tick()
    assert any(p["case_id"] == str(req.case_id) for p in await env.pages())  # its supporter is still paged


async def test_an_alias_in_the_directory_counts_as_known(env: Env) -> None:
    await with_directory(env, "ps_old_name")
    rotated = StaffRef(pseudonym="ps_new_name", key_id="k2", aliases=("ps_old_name",))
    await env.handle(consumed.requested, request((rotated,)), env.clock.now())
    assert await unknown_statuses(env) == []


async def test_nothing_is_asked_without_a_directory_for_referrals_or_escalations(env: Env) -> None:
    await env.handle(consumed.requested, request((STRANGER,)), env.clock.now())
    assert await unknown_statuses(env) == []  # no directory imported: every colleague would be "unknown"
    await with_directory(env, KNOWN.pseudonym)
    referral = ReferralFacts(kind=ReferralKind.SELF, offer=False)
    await env.handle(consumed.requested, request((STRANGER,), referral=referral, incident=None), env.clock.now())
    await env.handle(consumed.requested, request((STRANGER,), change="escalated"), env.clock.now())
    assert await unknown_statuses(env) == []


@pytest.mark.postgres
async def test_a_batch_of_requests_is_checked_against_the_directory_in_the_statements_of_one(pg_url: str) -> None:
    async with app_env(pg_url) as env:
        subs = Subscribers(env)
        await with_directory(env, KNOWN.pseudonym)

        def batch(n: int, tag: str) -> list[BaseModel]:
            return [request((KNOWN, StaffRef(pseudonym=f"ps_{tag}_stranger_{i}", key_id="k1"))) for i in range(n)]

        with counting(env.c.runtime.engine) as single:
            await subs.feed(topics.OUTREACH_REQUESTED, batch(1, "a"))
        with counting(env.c.runtime.engine) as thirty:
            await subs.feed(topics.OUTREACH_REQUESTED, batch(30, "b"))
        assert thirty.kinds() == single.kinds() and len(thirty) == len(single), (single.seen, thirty.seen)
        assert len(await unknown_statuses(env)) == 31
