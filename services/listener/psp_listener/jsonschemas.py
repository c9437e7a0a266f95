"""JSON Schemas of the intake contracts, generated from the models: ``python -m psp_listener.jsonschemas``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from psp_listener.adapters.huddles import HuddleEntryV1
from psp_listener.adapters.referrals import ReferralV1
from psp_listener.adapters.schemas import OccurrenceReportV1

BASE_ID = "https://psp-outreach.example/schemas/"
CONTRACTS: dict[str, tuple[type[BaseModel], str]] = {
    "occurrence-report.v1.json": (
        OccurrenceReportV1,
        "Native occurrence report v1: POST /v1/occurrence-reports or Kafka topic psp.occurrence-reports.v1.",
    ),
    "safety-huddle-entry.v1.json": (
        HuddleEntryV1,
        "Safety-huddle entry v1: POST /v1/safety-huddles or Kafka topic psp.safety-huddles.v1.",
    ),
    "referral.v1.json": (
        ReferralV1,
        "Referral v1 (self, colleague, manager, EAP): POST /v1/referrals or Kafka topic psp.referrals.v1; no free "
        "text (narrative, note, comment, reason, ... are refused by name).",
    ),
}


def generate(name: str) -> dict[str, Any]:
    """The JSON Schema document of contract ``name``."""
    model, intake = CONTRACTS[name]
    schema = model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + name,
        "$comment": f"Generated from {model.__module__}.{model.__name__}; do not edit. {intake}",
        **schema,
    }


def render(name: str) -> str:
    """Stable text of the schema file."""
    return json.dumps(generate(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(target: Path) -> None:
    """Write every contract schema into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in CONTRACTS:
        (target / name).write_text(render(name), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"))
