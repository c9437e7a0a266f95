"""Bounded work on hostile input: narrative stripped in one pass; staff lists capped on every path."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from psp_common.events.intake import MAX_STAFF, IncidentObserved, SourceKind
from psp_common.events.vocab import EventClass, Involvement, StaffRef
from psp_common.kafka import safe_reason
from psp_listener.adapters.fhir_map import strip_tags
from psp_listener.normalizer import Normalizer
from tests.listener.conftest import fixture, make_normalizer

FHIR = {"content-type": "application/fhir+json"}
WHEN = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


class CountingText(str):
    """A string that counts how many characters its ``find`` calls scan (the stripper's only search)."""

    scanned: int = 0
    calls: int = 0

    def find(self, sub: str, start: Any = 0, end: Any = None) -> int:  # type: ignore[override]
        found = super().find(sub, start, end)
        self.calls += 1
        self.scanned += (len(self) if found == -1 else found + len(sub)) - start
        return found


@pytest.mark.parametrize(
    ("markup", "stripped"),
    [
        ("<" * 20_000, "<" * 20_000),  # no '>' anywhere: nothing is a tag
        ("<" * 200_000, "<" * 200_000),
        ("<" * 100_000 + ">", " "),  # one tag from the first '<' to the '>'
        ("<a" * 50_000, "<a" * 50_000),
        ("a<b>" * 50_000, "a " * 50_000),
        ("<div>" + "x<" * 50_000 + "</div>", " x "),
        ("<p>Code&nbsp;blue</p> <br/>", " Code&nbsp;blue   "),
    ],
    ids=["20k-lt", "200k-lt", "lt-then-gt", "lt-a", "tags", "div-with-lt", "plain"],
)
def test_narrative_tags_are_stripped_in_one_linear_pass(markup: str, stripped: str) -> None:
    text = CountingText(markup)
    assert strip_tags(text) == stripped
    # Linear: every character is scanned at most twice (once for '<', once for '>'), a few calls per tag.
    # The pattern used before, re.sub(r"<[^>]*>", ...), rescanned to the end from every unclosed '<'.
    assert text.calls > 0 and text.scanned <= 2 * len(markup) + 2
    assert text.calls <= 2 * markup.count(">") + 3


def test_20000_unclosed_lt_in_a_fhir_narrative_still_flags_and_maps(norm: Normalizer) -> None:
    resource = fixture("adverse_event_r5.json")
    resource["text"]["div"] = '<div xmlns="http://www.w3.org/1999/xhtml">code blue ' + "<" * 20_000
    event = norm.fhir(json.dumps(resource).encode())
    assert event.cis_flags  # the phrase rules still saw the text


def _people(n: int) -> list[dict[str, Any]]:
    return [{"actor": {"reference": f"Practitioner/E{i}"}} for i in range(n)]


@pytest.mark.parametrize(("name", "key"), [("r5", "participant"), ("r4", "contributor")])
def test_fhir_staff_lists_longer_than_the_cap_are_refused_naming_the_element(
    client: TestClient, name: str, key: str
) -> None:
    resource = fixture(f"adverse_event_{name}.json")
    people = _people(51)
    resource[key] = people if key == "participant" else [p["actor"] for p in people]
    r = client.post("/fhir/AdverseEvent", content=json.dumps(resource), headers=FHIR)
    assert r.status_code == 422
    issue = r.json()["issue"]
    assert issue[0]["expression"] == [f"AdverseEvent.{key}"] and "at most 50" in issue[0]["diagnostics"]
    with pytest.raises(ValidationError) as caught:  # the Kafka path: dead-lettered with the element named
        make_normalizer().parse_fhir(json.dumps(resource).encode())
    assert safe_reason(caught.value).startswith(f"validation failed: {key}: at most 50 entries")


def test_fhir_participant_cap_is_a_setting_and_the_cap_itself_is_accepted() -> None:
    resource = fixture("adverse_event_r5.json")
    resource["participant"] = _people(50)
    assert len(make_normalizer().fhir(json.dumps(resource).encode()).staff) == 50
    with pytest.raises(ValidationError):
        make_normalizer(fhir_max_participants=10).fhir(json.dumps(resource).encode())
    with pytest.raises(ValidationError):
        make_normalizer(fhir_max_participants=MAX_STAFF)  # subject + participants must fit the event


def test_incident_observed_caps_its_staff_list() -> None:
    def event(n: int) -> IncidentObserved:
        staff = tuple(StaffRef(pseudonym=f"ps_{i:08d}", key_id="k1", involvement=Involvement.PRIMARY) for i in range(n))
        return IncidentObserved(
            occurred_at=WHEN,
            produced_at=WHEN,
            correlation_id=uuid.UUID(int=1),
            incident_ref="ref",
            report_version=1,
            source_kind=SourceKind.NATIVE,
            facility="GEN",
            unit="ICU",
            event_class=EventClass.INCIDENT,
            staff=staff,
        )

    assert len(event(MAX_STAFF).staff) == MAX_STAFF
    with pytest.raises(ValidationError) as caught:
        event(MAX_STAFF + 1)
    assert caught.value.errors()[0]["loc"] == ("staff",)
