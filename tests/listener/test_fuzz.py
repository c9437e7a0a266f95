"""Property-based: no input crashes the listener (parse + normalize, and the HTTP app: never a 5xx)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from psp_common.events.intake import IncidentObserved
from tests.listener.conftest import fixture, make_normalizer, offline_app
from tests.support import auth_headers

NORM = make_normalizer()
PATHS = ("/v1/occurrence-reports", "/v1/safety-huddles", "/fhir/AdverseEvent")
KEYS = st.sampled_from(
    [
        "resourceType",
        "actuality",
        "status",
        "subject",
        "participant",
        "contributor",
        "date",
        "occurrenceDateTime",
        "location",
        "meta",
        "identifier",
        "id",
        "reference",
        "versionId",
        "staff",
        "involved_staff",
        "staff_id",
        "facility",
        "unit",
        "call",
        "huddle_at",
        "occurred_at",
        "team_size",
        "coding",
        "code",
        "outcome",
    ]
) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "AdverseEvent",
            "Practitioner/E1",
            "Location/ICU",
            "2026-11-23T03:00:00-05:00",
            "actual",
            "potential",
            "morning",
            "rl6",
            "GEN/ICU",
            "1",
            "fatal",
        ]
    )
)
JSON = st.recursive(
    SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=6), max_leaves=25
)


def mutate(base: dict[str, Any], key: str, value: Any) -> bytes:
    return json.dumps({**base, key: value}).encode()


def parse_all(body: bytes) -> None:
    for parse in (NORM.parse_native, NORM.parse_huddle, NORM.parse_fhir):
        try:
            assert isinstance(parse(body), IncidentObserved)
        except ValidationError:
            pass


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_are_rejected(body: bytes) -> None:
    parse_all(body)


@settings(max_examples=150, deadline=None)
@given(JSON)
def test_random_json_parses_or_is_rejected(value: Any) -> None:
    parse_all(json.dumps(value).encode())


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["adverse_event_r4.json", "adverse_event_r5.json", "adverse_event_r5_staff_injury.json"]),
    st.sampled_from(
        [
            "subject",
            "participant",
            "contributor",
            "date",
            "occurrenceDateTime",
            "occurrencePeriod",
            "location",
            "meta",
            "identifier",
            "category",
            "outcome",
            "seriousness",
            "note",
            "text",
            "extension",
            "recordedDate",
            "actuality",
            "status",
        ]
    ),
    JSON,
)
def test_mutated_fhir_examples_parse_or_are_rejected(name: str, key: str, value: Any) -> None:
    try:
        NORM.fhir(mutate(fixture(name), key, value))
    except ValidationError:
        pass


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz')}/f.db"
    app = offline_app(url, max_body_bytes=4096)
    headers = auth_headers(app.state.runtime.settings, ["intake"])
    with TestClient(app, raise_server_exceptions=False, headers=headers) as client:
        yield client


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(PATHS),
    JSON | st.binary(max_size=200),
    st.sampled_from(
        [
            "application/json",
            "application/fhir+json",
            "application/fhir+json; fhirVersion=5.0",
            "text/plain",
            "application/fhir+json; fhirVersion=x",
        ]
    ),
)
def test_http_app_never_answers_5xx(app_client: TestClient, path: str, value: Any, content_type: str) -> None:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    r = app_client.post(path, content=body, headers={"content-type": content_type})
    assert 200 <= r.status_code < 500, (r.status_code, r.text[:300])


def test_a_valid_resource_through_the_fuzz_app_is_accepted(app_client: TestClient) -> None:
    r = app_client.post(
        "/fhir/AdverseEvent",
        content=json.dumps(fixture("adverse_event_r4.json")).encode(),
        headers={"content-type": "application/fhir+json"},
    )
    assert r.status_code in (200, 202) and r.json()["incident_ref"].startswith("ref_")
