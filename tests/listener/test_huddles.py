"""Safety-huddle entries: mapping, team head counts, flags from the note, errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from psp_common.events.vocab import CisTrigger
from psp_listener.adapters.huddles import OUT_OF_THE_ORDINARY, HuddleEntryV1
from psp_listener.normalizer import Normalizer


def entry(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entry_id": "H-1",
        "call": "morning",
        "facility": "SICK",
        "facility_tz": "America/Toronto",
        "unit": "NICU",
        "huddle_at": "2026-11-23T08:00:00-05:00",
        "occurred_at": "2026-11-23T02:15:00-05:00",
        "patient_age_group": "neonate",
        "staff": [{"staff_id": "E400", "role": "rn", "involvement": "responder"}],
        "note": "NARRATIVE-SECRET code blue overnight on baby Roe, MRN-123",
    }
    body.update(over)
    return body


def test_huddle_entry_maps_call_flags_and_drops_note(norm: Normalizer) -> None:
    event = norm.huddle(HuddleEntryV1.model_validate(entry(flags=["excessive_media_interest"])))
    assert event.source_kind == "huddle" and event.huddle_call == "morning"
    assert event.occurred_at.hour == 2 and event.reported_at is not None and event.reported_at.hour == 8
    assert event.category == OUT_OF_THE_ORDINARY
    assert event.cis_flags == (CisTrigger.EXCESSIVE_MEDIA_INTEREST, CisTrigger.SIGNIFICANT_EVENT_INVOLVING_CHILD)
    assert event.staff[0].pseudonym == norm.pseudo.pseudonym("E400") and event.staff[0].role == "rn"
    raw = event.model_dump_json()
    assert "NARRATIVE-SECRET" not in raw and "MRN-123" not in raw and "E400" not in raw


def test_team_head_count_without_names(norm: Normalizer) -> None:
    event = norm.huddle(
        HuddleEntryV1.model_validate(
            entry(staff=[], team_size=12, call="evening", category="staff_death", note=None, occurred_at=None)
        )
    )
    assert event.team_size == 12 and event.staff == () and event.huddle_call == "evening"
    assert event.category == "staff_death" and event.occurred_at == event.reported_at


def test_http_huddle_accepted_then_amended(client: TestClient) -> None:
    r = client.post("/v1/safety-huddles", json=entry())
    assert r.status_code == 202, r.text
    assert client.post("/v1/safety-huddles", json=entry()).json()["status"] == "duplicate"
    assert client.post("/v1/safety-huddles", json=entry(version=2, call="ad_hoc")).status_code == 202


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"staff": []}, "body"),
        ({"call": "noon"}, "call"),
        ({"facility_tz": "Mars/Olympus"}, "facility_tz"),
        ({"huddle_at": "2026-11-23T08:00:00"}, "huddle_at"),
        ({"team_size": "many"}, "team_size"),
        ({"flags": ["bad_day"]}, "flags.0"),
        ({"whispered": True}, "<extra field>"),  # the key itself is never echoed
    ],
)
def test_bad_huddle_entries_name_field_and_reason(client: TestClient, over: dict[str, Any], field: str) -> None:
    r = client.post("/v1/safety-huddles", json=entry(**over))
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["reason"] for e in r.json()["errors"]}
    assert errors.get(field)
    assert "NARRATIVE-SECRET" not in r.text


def test_missing_staff_reason_names_both_fields() -> None:
    with pytest.raises(ValidationError) as err:
        HuddleEntryV1.model_validate(entry(staff=[]))
    assert "staff or team_size" in str(err.value)
