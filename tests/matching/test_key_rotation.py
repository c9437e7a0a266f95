"""Matching after a pseudonym key rotation: a roster stored under k1, events naming people under k2 (+ k1 aliases)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from psp_common import topics
from psp_common.events.vocab import StaffRef
from psp_common.rekey import rekey
from psp_matching.adapters.orm import cases, shifts, staff, supporters
from psp_matching.domain.constraints import failed, prepare
from psp_matching.rekey import apply as rekey_matching
from psp_matching.settings import MatchingSettings
from tests.matching.conftest import Service, service_on
from tests.matching.factories import POLICY, case, facts, person, supporter
from tests.matching.test_handlers import handle, published, register, request
from tests.matching.test_retention import close, retention, rows
from tests.rotation import AFTER, BEFORE, retired, rotated, staff_after
from tests.support import auth_headers


def after_event(svc: Service, people: tuple[StaffRef, ...], **over: Any) -> Any:
    """An OutreachRequested from a rotated rules service (people under k2, with their k1 aliases)."""
    return request(svc, ["placeholder"], **over).model_copy(update={"people": people})


async def test_evaluator_and_supervisor_stay_excluded_after_key_rotation(sqlite_url: str) -> None:
    async with service_on(sqlite_url) as before:  # roster entered under k1
        await register(before, "S-EVAL", evaluates=["E-1"], years_experience=30)
        await register(before, "S-SUP", supervises=["E-1"], years_experience=20)
        await register(before, "S-OK", site="NORTH")  # ranks last unless the other two are excluded
    async with service_on(sqlite_url, **rotated()) as after:
        case_id = uuid.uuid4()
        await handle(after, after_event(after, staff_after("E-1"), case_id=case_id))
        # An amendment whose people carry no aliases: the case keeps the aliases it was given.
        people = (StaffRef(pseudonym=AFTER.pseudonym("E-1"), key_id="k2", role="rn"),)
        await handle(after, after_event(after, people, case_id=case_id, urgency="immediate"))
        msgs = [m for t, m in await published(after) if t == topics.SUPPORTER_MATCHED]
    assert len(msgs) == 2
    for msg in msgs:
        chosen = [msg["primary"], *msg["backups"], *msg["co_facilitators"]]
        assert [c["supporter_ref"] for c in chosen] == [BEFORE.pseudonym("S-OK")]


async def test_involved_supporter_stays_excluded_after_key_rotation(sqlite_url: str) -> None:
    async with service_on(sqlite_url) as before:
        await register(before, "S-INV", years_experience=30)  # a supporter who was in the incident
        await register(before, "S-OK", site="NORTH")
    async with service_on(sqlite_url, **rotated()) as after:
        await handle(after, after_event(after, staff_after("E-1", "S-INV")))
        [(topic, msg)] = await published(after)
    assert topic == topics.SUPPORTER_MATCHED
    assert [msg["primary"]["supporter_ref"], *(b["supporter_ref"] for b in msg["backups"])] == [
        BEFORE.pseudonym("S-OK")
    ]


async def test_roster_api_finds_supporters_registered_before_rotation(sqlite_url: str) -> None:
    async with service_on(sqlite_url) as before:
        await register(before, "S-1")
    async with service_on(sqlite_url, **rotated()) as after:
        assert (await after.client.post("/v1/supporters/S-1/pause")).status_code == 200
        r = await after.client.post(
            "/v1/supporters",
            json={"staff_id": "S-1", "display_name": "x", "profession": "rn", "seniority_level": 4, "site": "GEN"},
        )
        assert r.status_code == 409, "the same person under the new key is not a second supporter"
        put = await after.client.put(
            "/v1/supporters/S-1",
            json={"display_name": "P", "profession": "rn", "seniority_level": 4, "site": "GEN", "evaluates": ["E-5"]},
        )
        assert put.status_code == 200, put.text
        shift = {"staff_id": "S-1", "start": "2026-11-23T14:00:00Z", "end": "2026-11-23T22:00:00Z"}
        assert (await after.client.post("/v1/shifts", json=[shift])).status_code in (200, 201)
        async with after.container.runtime.session() as s:
            row = (await s.execute(select(supporters))).one()._mapping
            shift_refs = set((await s.execute(select(shifts.c.staff_ref))).scalars())
    assert row["supporter_ref"] == BEFORE.pseudonym("S-1") and row["paused"] is False
    assert set(row["evaluates"]) == {AFTER.pseudonym("E-5"), BEFORE.pseudonym("E-5")}
    assert shift_refs == {BEFORE.pseudonym("S-1")}, "a supporter's shifts stay under their roster ref"


def test_constraints_compare_every_alias_of_a_supported_person() -> None:
    rotated_case = case(people=(person("ps_new", aliases=frozenset({"ps_old"})),))
    p = prepare(rotated_case, facts(), POLICY)
    assert "not_evaluator_or_supervisor" in failed(supporter("ps_a", evaluates=frozenset({"ps_old"})), p)
    assert "not_evaluator_or_supervisor" in failed(supporter("ps_b", supervises=frozenset({"ps_old"})), p)
    assert "not_involved" in failed(supporter("ps_old"), p)
    assert failed(supporter("ps_c"), p) == []


async def test_matched_supporters_carry_their_other_key_pseudonyms_for_notification(sqlite_url: str) -> None:
    async with service_on(sqlite_url) as before:
        await register(before, "S-OLD")  # on the roster under k1
    async with service_on(sqlite_url, **rotated()) as after:
        await register(after, "S-NEW", site="NORTH")  # joined after the rotation: roster ref under k2
        await handle(after, after_event(after, staff_after("E-1")))
        [(_, msg)] = await published(after)
    named = {c["supporter_ref"]: c["aliases"] for c in [msg["primary"], *msg["backups"]]}
    assert named == {
        BEFORE.pseudonym("S-OLD"): [AFTER.pseudonym("S-OLD")],
        AFTER.pseudonym("S-NEW"): [BEFORE.pseudonym("S-NEW")],
    }


async def test_involved_supporter_stays_excluded_once_the_old_key_is_retired(sqlite_url: str) -> None:
    async with service_on(sqlite_url) as before:
        await register(before, "S-INV", years_experience=30)  # roster ref under k1, kept as an opaque id
        await register(before, "S-OK", site="NORTH")
    async with service_on(sqlite_url, **retired()) as after:  # k1 gone: events name people under k2 only
        people = (StaffRef(pseudonym=AFTER.pseudonym("S-INV"), key_id="k2", role="rn"),)
        await handle(after, after_event(after, people))
        [(_, msg)] = await published(after)
    assert [msg["primary"]["supporter_ref"], *(b["supporter_ref"] for b in msg["backups"])] == [
        BEFORE.pseudonym("S-OK")
    ]
    assert msg["primary"]["aliases"] == [AFTER.pseudonym("S-OK")], "notification finds contacts saved under k2"


async def test_a_case_stored_before_rotation_keeps_one_person_when_named_under_the_new_key(sqlite_url: str) -> None:
    case_id = uuid.uuid4()
    async with service_on(sqlite_url) as before:
        await register(before, "S-1")
        await handle(before, request(before, ["E-1"], case_id))  # the case's people stored under k1
    async with service_on(sqlite_url, **rotated()) as after:
        await handle(after, after_event(after, staff_after("E-1"), case_id=case_id))  # same urgency: a repeat
        assert len(await published(after)) == 1, "not mistaken for a new person joining the case"
        await handle(after, after_event(after, staff_after("E-1"), case_id=case_id, urgency="immediate"))
        msgs = [m for _, m in await published(after)]
    assert len(msgs) == 2 and msgs[1]["supported"] == [AFTER.pseudonym("E-1")]


async def test_rekey_keeps_evaluator_exclusion_once_the_old_key_is_retired(sqlite_url: str) -> None:
    async with service_on(sqlite_url) as before:
        await register(before, "S-EVAL", evaluates=["E-1"], years_experience=30)  # stored under k1 only
        await register(before, "S-OK", site="NORTH")
        await before.client.post("/v1/staff", json={"staff_id": "E-1", "profession": "rn", "seniority_level": 2})
    counts = await rekey(MatchingSettings(**rotated(database_url=sqlite_url)), ["E-1", "S-OK"], rekey_matching)
    assert counts == {"supporters": 1, "staff": 1, "cases": 0, "supported_people": 0}
    again = await rekey(MatchingSettings(**rotated(database_url=sqlite_url)), ["E-1"], rekey_matching)
    assert set(again.values()) == {0}
    async with service_on(sqlite_url, **retired()) as after:
        people = (StaffRef(pseudonym=AFTER.pseudonym("E-1"), key_id="k2", role="rn"),)
        await handle(after, after_event(after, people))
        [(_, msg)] = await published(after)
        async with after.container.runtime.session() as s:
            directory = set((await s.execute(select(staff.c.staff_ref))).scalars())
    assert [msg["primary"]["supporter_ref"], *(b["supporter_ref"] for b in msg["backups"])] == [
        BEFORE.pseudonym("S-OK")
    ]
    assert directory == {AFTER.pseudonym("E-1")}


async def test_a_supporter_still_sees_their_assignments_after_rotation_and_retirement(sqlite_url: str) -> None:
    case_id = uuid.uuid4()
    async with service_on(sqlite_url) as before:
        await register(before, "S-1")
        await handle(before, request(before, ["E-1"], case_id))  # assigned to S-1 under k1
    for settings in (rotated(), retired()):
        async with service_on(sqlite_url, **settings) as after:
            me = auth_headers(after.container.settings, ["supporter"], staff_id="S-1")
            mine = (await after.client.get("/v1/me/assignments", headers=me)).json()
            assert [a["case_id"] for a in mine] == [str(case_id)]
            assert (await after.client.get(f"/v1/cases/{case_id}", headers=me)).status_code == 200
            assert (await after.client.post("/v1/supporters/S-1/pause")).status_code == 200


async def test_retention_purges_the_aliases_of_a_closed_case(sqlite_url: str) -> None:
    async with service_on(sqlite_url, **rotated()) as svc:
        await register(svc, "S-1")
        event = after_event(svc, staff_after("E-1"))
        await handle(svc, event)
        await close(svc, event.case_id)
        assert (await rows(svc, cases))[0]["aliases"] == {AFTER.pseudonym("E-1"): [BEFORE.pseudonym("E-1")]}
        assert await retention(svc, 91).tick() == 1
        assert (await rows(svc, cases))[0]["aliases"] is None
