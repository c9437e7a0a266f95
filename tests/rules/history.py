"""Generated incident history for what-if tests and the bench: deterministic (seeded), pseudonymized the way the
listener does it, occurring over the months before ``end`` and arriving in a slightly shuffled order."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from psp_common.events.intake import IncidentObserved
from psp_common.events.vocab import StaffRef
from psp_common.pseudonym import Pseudonymizer

FACILITIES = ("GEN", "NORTH")
UNITS = ("ICU", "ED", "MED", "SURG", "PEDS")
HARM = ("death", "severe", "moderate", "mild", "mild", "no_harm", "no_harm", "no_harm", "unknown", None)
CLASSES = ("incident", "incident", "incident", "near_miss", "unsafe_condition")
CATEGORIES = ("fall", "medication", "surgery", "violence", None)
FLAGS = ("threat_to_staff_safety", "workplace_conflict", "unexpected_patient_death", "profound_emotion")
ROLES = ("rn", "physician", "rt", "pharmacist")


def history(n: int, end: datetime, *, days: int = 170, people: int = 600, seed: int = 7) -> Iterator[IncidentObserved]:
    """``n`` incident versions (about 5% are second versions of an earlier incident) in arrival order."""
    rng = random.Random(seed)
    pseudo = Pseudonymizer(b"what-if-history-key-0123456789abcdef", "k1")
    staff_pool = [
        StaffRef(pseudonym=pseudo.pseudonym(f"S{i}"), key_id="k1", role=rng.choice(ROLES)) for i in range(people)
    ]
    start = end - timedelta(days=days)
    made: list[IncidentObserved] = []
    amended: set[str] = set()
    for i in range(n):
        if made and rng.random() < 0.05:
            first = rng.choice(made)
            if first.report_version == 1 and first.incident_ref not in amended:
                amended.add(first.incident_ref)
                made.append(_amended(first, rng))
                continue
        made.append(_incident(i, start, days, staff_pool, rng))
    # reports arrive in about occurrence order, a few hours either way
    made.sort(key=lambda e: e.occurred_at + timedelta(hours=rng.uniform(-6, 6)) + timedelta(days=e.report_version - 1))
    return iter(made)


def _incident(i: int, start: datetime, days: int, pool: list[StaffRef], rng: random.Random) -> IncidentObserved:
    huddle = rng.random() < 0.03
    size = rng.choice((1, 1, 1, 2, 2, 3, 4)) if rng.random() < 0.95 else rng.randint(6, 9)
    body = {
        "occurred_at": (occurred := start + timedelta(seconds=rng.uniform(0, days * 86400))),
        "produced_at": occurred,
        "correlation_id": uuid.UUID(int=rng.getrandbits(128)),
        "event_id": uuid.UUID(int=rng.getrandbits(128)),
        "incident_ref": f"ref_{i:07d}",
        "report_version": 1,
        "source_kind": "huddle" if huddle else "native",
        "facility": rng.choice(FACILITIES),
        "unit": rng.choice(UNITS),
        "event_class": rng.choice(CLASSES),
        "harm_level": rng.choice(HARM),
        "category": rng.choice(CATEGORIES),
        "patient_age_group": rng.choice(("adult", "adult", "adult", "child", None)),
        "huddle_call": "morning" if huddle else None,
        "staff": tuple(rng.sample(pool, size)),
        "cis_flags": (rng.choice(FLAGS),) if rng.random() < 0.06 else (),
    }
    return IncidentObserved.model_validate(body)


def _amended(first: IncidentObserved, rng: random.Random) -> IncidentObserved:
    body = first.model_dump()
    body.update(
        report_version=2,
        event_id=uuid.UUID(int=rng.getrandbits(128)),
        harm_level=rng.choice(HARM),
        unit=rng.choice(UNITS),
    )
    return IncidentObserved.model_validate(body)
