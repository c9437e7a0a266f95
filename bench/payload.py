"""Synthetic occurrence reports: each one calls for outreach to one, never-before-seen staff member."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

RUN = uuid.uuid4().hex[:8]
SOURCE_SYSTEM = "bench"


def report_id(seq: int, run: str = RUN) -> str:
    """Report id of load message ``seq`` (unique per bench run)."""
    return f"B{run}-{seq}"


def report(seq: int, run: str = RUN, now: datetime | None = None) -> dict[str, Any]:
    """A native occurrence report v1 (harmful incident, one involved clinician) for load message ``seq``.

    The staff id is unique per message so the rules service's merge window never folds two reports into one
    case; the occurrence time is recent so every report is still actionable.
    """
    now = now or datetime.now(UTC)
    return {
        "source_system": SOURCE_SYSTEM,
        "report_id": report_id(seq, run),
        "version": 1,
        "facility": "GEN",
        "facility_tz": "America/Toronto",
        "unit": "ICU",
        "occurred_at": (now - timedelta(hours=1)).isoformat(),
        "reported_at": now.isoformat(),
        "event_class": "incident",
        "category": "medication",
        "harm_level": "death",
        "involved_staff": [{"staff_id": f"E{run}-{seq}", "role": "rn", "involvement": "primary"}],
        "patient": {"mrn": f"MRN-{seq}", "age_group": "adult"},
        "narrative": "Synthetic benchmark narrative; it must never leave the listener.",
    }


def supporters(count: int, run: str = RUN) -> list[dict[str, Any]]:
    """A roster of senior RN supporters at GEN, always available, so every report can be matched."""
    return [
        {
            "staff_id": f"S{run}-{i}",
            "display_name": f"Bench supporter {i}",
            "profession": "rn",
            "seniority_level": 5,
            "years_experience": 20,
            "site": "GEN",
            "languages": ["en"],
            "training": {"group_facilitation": True, "mental_health_credentials": True},
        }
        for i in range(count)
    ]
