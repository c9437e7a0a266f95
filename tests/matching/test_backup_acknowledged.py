"""A backup who acknowledges in notification took the case: matching counts it toward their monthly cap."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from psp_common import topics
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_matching.handlers import status_is_relevant
from psp_matching.set_based import on_status_many
from tests.matching.conftest import Service
from tests.matching.factories import NOW
from tests.matching.test_handlers import handle, published, register, request
from tests.support import auth_headers


def acknowledged(matched: dict[str, Any], supporter_ref: str, **over: Any) -> OutreachStatusChanged:
    """The status event notification publishes when ``supporter_ref`` acknowledges a page of ``matched``."""
    values: dict[str, Any] = {
        "occurred_at": NOW + timedelta(minutes=40),
        "correlation_id": uuid.UUID(matched["correlation_id"]),
        "case_id": uuid.UUID(matched["case_id"]),
        "assignment_id": uuid.UUID(matched["assignment_id"]),
        "status": OutreachStatus.ACKNOWLEDGED,
        "facility": "GEN",
        "unit": "ICU",
        "supporter_ref": supporter_ref,
        "channel": "webhook",
    }
    values.update(over)
    return OutreachStatusChanged(**values)


async def deliver(svc: Service, event: OutreachStatusChanged) -> None:
    assert status_is_relevant(event)
    async with svc.container.runtime.uow() as uow:
        await uow.claim(str(event.event_id), topics.OUTREACH_STATUS)
        await on_status_many([event], uow, svc.container.deps)
        await uow.commit()


def this_month(supporters: list[dict[str, Any]]) -> dict[str, int]:
    return {s["staff_id"]: s["assignments_this_month"] for s in supporters}


async def test_a_backup_who_acknowledged_counts_toward_the_cap_and_the_next_match_skips_them(svc: Service) -> None:
    await register(svc, "S-BACKUP", site="NORTH")
    await handle(svc, request(svc, ["E-0"]))  # the backup's first case this month: one slot left (cap 2)
    await register(svc, "S-PRIMARY")  # same site: primary from now on, S-BACKUP ranked as backup
    await handle(svc, request(svc, ["E-1"]))
    _, matched = (await published(svc))[-1]
    assert matched["primary"]["supporter_ref"] == svc.ref("S-PRIMARY")
    assert [b["supporter_ref"] for b in matched["backups"]] == [svc.ref("S-BACKUP")]
    # The primary never answered; notification paged the backup, who acknowledged.
    await deliver(svc, acknowledged(matched, svc.ref("S-BACKUP")))
    supporters = (await svc.client.get("/v1/supporters")).json()
    assert this_month(supporters) == {"S-BACKUP": 2, "S-PRIMARY": 1}
    await svc.client.post("/v1/supporters/S-PRIMARY/pause")
    await handle(svc, request(svc, ["E-2"]))  # only the backup is left, and they are at the cap now
    topic, last = (await published(svc))[-1]
    assert topic == topics.SUPPORTER_UNMATCHED
    assert "monthly_cap: 1 excluded (monthly assignment cap reached)" in last["reasons"]
    # They are on the case's team now: their own view lists it.
    mine = await svc.client.get(
        "/v1/me/assignments", headers=auth_headers(svc.container.settings, ["supporter"], staff_id="S-BACKUP")
    )
    assert matched["case_id"] in {a["case_id"] for a in mine.json()} and len(mine.json()) == 2


async def test_the_primary_acknowledging_or_a_replay_counts_nothing_twice(svc: Service) -> None:
    await register(svc, "S-1")
    await register(svc, "S-2", site="NORTH")
    await handle(svc, request(svc, ["E-1"]))
    [(_, matched)] = await published(svc)
    ack = acknowledged(matched, svc.ref("S-1"))
    await deliver(svc, ack)  # the primary is on the team already
    backup = acknowledged(matched, svc.ref("S-2"))
    await deliver(svc, backup)
    await deliver(svc, acknowledged(matched, svc.ref("S-2")))  # acknowledged again (another event id)
    assert this_month((await svc.client.get("/v1/supporters")).json()) == {"S-1": 1, "S-2": 1}


async def test_an_acknowledgement_of_an_unknown_assignment_changes_nothing(svc: Service) -> None:
    await register(svc, "S-1")
    await handle(svc, request(svc, ["E-1"]))
    [(_, matched)] = await published(svc)
    await deliver(svc, acknowledged(matched, svc.ref("S-1"), assignment_id=uuid.uuid4()))
    other_case = acknowledged(matched, svc.ref("S-2"), case_id=uuid.uuid4())  # assignment of another case
    await deliver(svc, other_case)
    assert this_month((await svc.client.get("/v1/supporters")).json()) == {"S-1": 1}


def test_only_acknowledgements_naming_a_supporter_and_an_assignment_are_relevant() -> None:
    base = acknowledged(
        {"correlation_id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "assignment_id": str(uuid.uuid4())}, "ps_x"
    )
    assert status_is_relevant(base)
    assert not status_is_relevant(base.model_copy(update={"supporter_ref": None}))
    assert not status_is_relevant(base.model_copy(update={"assignment_id": None}))
    assert not status_is_relevant(base.model_copy(update={"status": OutreachStatus.DECLINED}))
