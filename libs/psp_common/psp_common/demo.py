"""Demo data for ``make run``: a small roster, contacts on the console channel and a few reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

SUPPORTERS: list[dict[str, Any]] = [
    {
        "staff_id": "S-100",
        "display_name": "Peer A (RN, ICU)",
        "profession": "rn",
        "seniority_level": 4,
        "years_experience": 15,
        "site": "GEN",
        "languages": ["en", "fr"],
        "training": {"group_facilitation": True, "mental_health_credentials": False},
    },
    {
        "staff_id": "S-101",
        "display_name": "Peer B (physician)",
        "profession": "physician",
        "seniority_level": 5,
        "years_experience": 22,
        "site": "GEN",
        "languages": ["en"],
        "training": {"group_facilitation": True, "mental_health_credentials": True},
    },
    {
        "staff_id": "S-102",
        "display_name": "Peer C (RT)",
        "profession": "rt",
        "seniority_level": 3,
        "years_experience": 8,
        "site": "GEN",
        "languages": ["en"],
        "training": {"group_facilitation": False, "mental_health_credentials": False},
    },
    {
        "staff_id": "S-103",
        "display_name": "Peer D (social work)",
        "profession": "social_work",
        "seniority_level": 4,
        "years_experience": 12,
        "site": "GEN",
        "languages": ["en", "es"],
        "training": {"group_facilitation": True, "mental_health_credentials": True},
    },
    {
        "staff_id": "S-104",
        "display_name": "Peer E (RN, ED)",
        "profession": "rn",
        "seniority_level": 5,
        "years_experience": 18,
        "site": "GEN",
        "languages": ["en"],
        "training": {"group_facilitation": True, "mental_health_credentials": False},
    },
]


def reports(now: datetime | None = None) -> list[dict[str, Any]]:
    """Demo occurrence reports: two call for outreach, one near miss does not."""
    now = now or datetime.now(UTC)
    at = (now - timedelta(hours=2)).isoformat()
    base = {
        "source_system": "demo-rl",
        "facility": "GEN",
        "occurred_at": at,
        "reported_at": now.isoformat(),
        "facility_tz": "America/Toronto",
    }
    return [
        {
            **base,
            "report_id": "DEMO-1",
            "version": 1,
            "unit": "ICU",
            "event_class": "incident",
            "category": "medication",
            "harm_level": "death",
            "involved_staff": [{"staff_id": "E-200", "role": "rn", "involvement": "primary"}],
            "narrative": "Demo narrative that must never leave the listener.",
            "patient": {"mrn": "DEMO-MRN-1", "age_group": "adult"},
        },
        {
            **base,
            "report_id": "DEMO-2",
            "version": 1,
            "unit": "PICU",
            "event_class": "incident",
            "category": "resuscitation",
            "harm_level": "severe",
            "involved_staff": [
                {"staff_id": "E-201", "role": "physician", "involvement": "primary"},
                {"staff_id": "E-202", "role": "rn", "involvement": "responder"},
            ],
            "cis_flags": ["significant_event_involving_child"],
            "patient": {"age_group": "child"},
        },
        {
            **base,
            "report_id": "DEMO-3",
            "version": 1,
            "unit": "MED",
            "event_class": "near_miss",
            "category": "medication",
            "harm_level": "no_harm",
            "involved_staff": [{"staff_id": "E-203", "role": "pharmacist"}],
        },
    ]


# Demo staff directory (fictional people, 555 numbers, example.org addresses) for everyone the demo reports name,
# so the supporter page of `make run` shows whom to call. Loaded through notification's CSV import.
DIRECTORY_CSV = (
    "staff_id,display_name,role,unit,phone,pager,email\n"
    "E-200,Jordan Avery,Registered nurse,ICU,+1 416 555 0100,4100,jordan.avery@gen.example.org\n"
    "E-201,Dr. Priya Natarajan,Staff physician,PICU,+1 416 555 0101,4101,priya.natarajan@gen.example.org\n"
    "E-202,Sam Okoro,Registered nurse,PICU,+1 416 555 0102,4102,sam.okoro@gen.example.org\n"
    "E-203,Lee Chen,Pharmacist,MED,+1 416 555 0103,,lee.chen@gen.example.org\n"
)


def involved_staff_ids() -> set[str]:
    """Staff ids named by the demo reports (their times do not matter here)."""
    return {p["staff_id"] for r in reports(datetime(2026, 1, 1, tzinfo=UTC)) for p in r["involved_staff"]}
