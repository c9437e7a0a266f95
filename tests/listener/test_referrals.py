"""Referral intake: validation naming the field, no free text, a staff member refers as themself, pseudonyms only,
resends are no-ops, and the Kafka intake publishes the same event (outbox) or dead-letters what it cannot take."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from psp_common.events.referral import ReferralKind, ReferralObserved
from psp_common.events.vocab import Urgency
from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_listener import handlers
from psp_listener.adapters.orm import metadata, outbox
from psp_listener.bootstrap import MIGRATIONS
from psp_listener.domain.model import Disposition
from psp_listener.normalizer import Normalizer
from psp_listener.settings import ListenerSettings
from tests.listener.conftest import make_normalizer
from tests.support import auth_headers

SECRET = "NARRATIVE-SECRET she cried in the med room after bed 4"


def referral(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source_system": "console",
        "referral_id": "RF-1",
        "kind": "colleague",
        "facility": "GEN",
        "unit": "ICU",
        "urgency": "today",
        "referred_at": "2026-11-23T10:00:00-05:00",
        "person": {"staff_id": "E-200", "role": "rn"},
        "referrer": {"staff_id": "E-300"},
    }
    body.update(over)
    return body


def errors(r: Any) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in r.json()["errors"]}


@pytest.mark.parametrize("field", ["narrative", "note", "comment", "reason", "details", "description", "text"])
def test_a_narrative_like_field_is_refused_by_name_and_never_echoed(client: TestClient, field: str) -> None:
    r = client.post("/v1/referrals", json=referral(**{field: SECRET}))
    assert r.status_code == 422, r.text
    assert "free text is not accepted" in errors(r)[field]
    assert SECRET not in r.text


def test_any_other_unknown_field_is_refused_without_echoing_its_key(client: TestClient) -> None:
    r = client.post("/v1/referrals", json=referral(why_i_worry_about_jo=SECRET))
    assert r.status_code == 422 and "<extra field>" in errors(r) and "why_i_worry" not in r.text


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"urgency": "yesterday"}, "urgency"),
        ({"kind": "friend"}, "kind"),
        ({"facility": ""}, "facility"),
        ({"referred_at": "2026-11-23T10:00:00"}, "referred_at"),
        ({"facility_tz": "Mars/Olympus"}, "facility_tz"),
        ({"referrer": None}, "referrer"),  # a colleague referral from a system names its referrer
        ({"person": None}, "person"),
        ({"kind": "self"}, "referrer"),  # a self-referral names no referrer
        ({"kind": "eap", "referrer": None}, "person_agreed"),
        ({"referrer": {"staff_id": "E-200"}}, "referrer"),  # the referrer is the person: that is a self-referral
        ({"person": {"staff_id": "E-200", "name": "Jo"}}, "person.<extra field>"),
    ],
)
def test_bad_referrals_get_a_422_naming_the_field(client: TestClient, over: dict[str, Any], field: str) -> None:
    r = client.post("/v1/referrals", json=referral(**over))
    assert r.status_code == 422, r.text
    assert field in errors(r), r.text


def test_a_valid_referral_is_accepted_once(client: TestClient) -> None:
    first = client.post("/v1/referrals", json=referral())
    again = client.post("/v1/referrals", json=referral())
    assert first.status_code == 202 and first.json()["event_id"], first.text
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["incident_ref"] == first.json()["incident_ref"]


def test_a_staff_member_refers_as_themself(sqlite_url: str) -> None:
    from tests.listener.conftest import offline_app

    app = offline_app(sqlite_url)
    s = app.state.runtime.settings
    with TestClient(app, raise_server_exceptions=False) as c:
        me = auth_headers(s, ["staff"], staff_id="E-300")
        own = c.post("/v1/referrals", json=referral(referral_id="A", referrer=None), headers=me)
        assert own.status_code == 202, own.text  # the token's staff_id is the referrer
        mine = c.post(
            "/v1/referrals", json=referral(referral_id="B", kind="self", person=None, referrer=None), headers=me
        )
        assert mine.status_code == 202, mine.text  # and the person of a self-referral
        other = c.post("/v1/referrals", json=referral(referral_id="C", referrer={"staff_id": "E-999"}), headers=me)
        assert other.status_code == 422 and "referrer" in errors(other)
        not_me = c.post("/v1/referrals", json=referral(referral_id="D", kind="self", referrer=None), headers=me)
        assert not_me.status_code == 422 and "person" in errors(not_me)
        no_id = c.post("/v1/referrals", json=referral(referral_id="E"), headers=auth_headers(s, ["staff"]))
        assert no_id.status_code == 403
        supporter = auth_headers(s, ["supporter"], staff_id="E-301")
        assert (
            c.post("/v1/referrals", json=referral(referral_id="F", referrer=None), headers=supporter).status_code == 202
        )
        assert c.post("/v1/referrals", json=referral(referral_id="G")).status_code == 401


def test_the_event_carries_pseudonyms_and_the_chosen_urgency_only(norm: Normalizer) -> None:
    from psp_listener.adapters.referrals import ReferralV1

    for word, urgency in (
        ("now", Urgency.IMMEDIATE),
        ("today", Urgency.WITHIN_HOURS),
        ("this_week", Urgency.WITHIN_DAYS),
    ):
        event = norm.referral(ReferralV1.model_validate(referral(urgency=word)))
        assert event.urgency is urgency and event.kind is ReferralKind.COLLEAGUE
    assert event.person.pseudonym == norm.pseudo.pseudonym("E-200") and event.person.role == "rn"
    assert event.referrer is not None and event.referrer.pseudonym == norm.pseudo.pseudonym("E-300")
    assert event.occurred_at.hour == 10 and event.unit == "ICU"
    raw = event.model_dump_json()
    assert "E-200" not in raw and "E-300" not in raw and "RF-1" not in raw
    no_unit = norm.referral(ReferralV1.model_validate(referral(unit=None)))
    assert no_unit.unit == "unspecified"


async def test_kafka_referrals_are_staged_once_and_bad_ones_refused(sqlite_url: str) -> None:
    await upgrade_async(MIGRATIONS, sqlite_url)
    rt = Runtime(ListenerSettings(database_url=sqlite_url), metadata, MIGRATIONS)
    norm = make_normalizer()
    bodies = [referral(referral_id=i) for i in ("K-1", "K-1", "K-2")]
    events = [norm.parse_referral(json.dumps(b).encode()) for b in bodies]
    with pytest.raises(ValidationError) as bad:
        norm.parse_referral(json.dumps(referral(note=SECRET)).encode())
    assert [e["loc"] for e in bad.value.errors()] == [("note",)] and SECRET not in str(bad.value)
    try:
        async with rt.uow() as uow:
            outcomes = await handlers.accept_referrals(events, uow)
        assert [o.disposition for o in outcomes] == [Disposition.ACCEPTED, Disposition.DUPLICATE, Disposition.ACCEPTED]
        async with rt.session() as s:
            rows = (await s.execute(select(outbox.c.topic, outbox.c.payload).order_by(outbox.c.id))).all()
        assert [t for t, _ in rows] == ["psp.intake.referral-observed.v1"] * 2
        published = [ReferralObserved.model_validate_json(p) for _, p in rows]
        assert {p.referral_ref for p in published} == {events[0].referral_ref, events[2].referral_ref}
    finally:
        await rt.engine.dispose()
