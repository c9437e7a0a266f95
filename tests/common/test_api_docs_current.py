"""The committed OpenAPI / AsyncAPI documents match what the code generates (run `make asyncapi`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from psp_common.docs import documents, render
from psp_common.stack import SERVICES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api"


@pytest.mark.parametrize("service", SERVICES)
def test_documents_are_current(service: str) -> None:
    for name, doc in documents(service).items():
        committed = DOCS / name
        assert committed.exists(), f"{committed} missing: run `make asyncapi`"
        assert committed.read_text() == render(doc), f"{name} is stale: run `make asyncapi`"


@pytest.mark.parametrize("service", SERVICES)
def test_asyncapi_documents_every_subscription_with_group(service: str) -> None:
    doc = documents(service)[f"{service}.asyncapi.json"]
    assert doc["asyncapi"].startswith("3.")
    assert doc["channels"], "no channels documented"
