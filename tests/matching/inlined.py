"""Random supporters, cases and facts, to compare the matcher's inlined hot paths with the rules they inline."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import time, timedelta

from psp_matching.domain.constraints import Prepared, prepare
from psp_matching.domain.model import ContactHours, Policy, Supporter, Weights
from tests.matching.factories import NOW, case, facts, person, supporter

REFS = [f"ps_{i}" for i in range(8)]
PEOPLE = ["ps_p1", "ps_p2", "ps_p3"]


def _some(rng: random.Random, pool: list[str]) -> frozenset[str]:
    return frozenset(rng.sample(pool, rng.randint(0, 2)))


def random_supporter(rng: random.Random) -> Supporter:
    hours = None
    if rng.random() < 0.6:
        hours = ContactHours(time(rng.randint(0, 23)), time(rng.randint(0, 23)), rng.choice(("UTC", "Asia/Tokyo")))
    return supporter(
        rng.choice([*REFS, *PEOPLE]),
        profession=rng.choice(("rn", "rt", "md")),
        seniority_level=rng.randint(1, 5),
        site=rng.choice(("GEN", "EAST")),
        years_experience=rng.randint(0, 9),
        languages=_some(rng, ["en", "fr", "es"]),
        group_facilitation=rng.random() < 0.5,
        mental_health_credentials=rng.random() < 0.5,
        contact_hours=hours,
        accepts_immediate_outside_hours=rng.random() < 0.5,
        active=rng.random() < 0.9,
        paused=rng.random() < 0.1,
        evaluates=_some(rng, [*PEOPLE, "ps_x"]) if rng.random() < 0.2 else frozenset(),
        supervises=_some(rng, [*PEOPLE, "ps_x"]) if rng.random() < 0.2 else frozenset(),
        monthly_cap=rng.choice((None, None, 0, 1, 3)),
        aliases=_some(rng, ["ps_p1", "ps_old"]) if rng.random() < 0.1 else frozenset(),
    )


def random_prepared(rng: random.Random) -> Prepared:
    people = tuple(
        person(ref, profession=rng.choice(("rn", "rt", None)), seniority_level=rng.choice((None, 1, 3, 5)),
               languages=_some(rng, ["en", "fr"]))
        for ref in rng.sample(PEOPLE, rng.randint(1, 3))
    )  # fmt: skip
    profile = case(
        people=people,
        facility=rng.choice(("GEN", "EAST")),
        urgency=rng.choice(("within_days", "within_hours", "immediate")),
        mode=rng.choice(("individual", "group")),
        tier=rng.randint(1, 3),
        discipline=rng.choice(("same", "other", "any")),
    )
    pool = [*REFS, *PEOPLE]
    known = facts(
        now=NOW + timedelta(minutes=rng.randint(0, 24 * 60)),
        on_shift=_some(rng, pool),
        month_counts={r: rng.randint(0, 3) for r in rng.sample(pool, 4)},
        recent_counts={r: rng.randint(0, 5) for r in rng.sample(pool, 4)},
        on_case=_some(rng, pool),
        supporting_person=_some(rng, pool),
    )
    weights = Weights(*(rng.choice((0.0, 0.3, 1.0, 2.5, 4.0)) for _ in range(6)))
    return prepare(profile, known, Policy(monthly_cap=rng.randint(0, 3), weights=weights))


def random_pairs(seed: int, n: int) -> Iterator[tuple[Supporter, Prepared]]:
    """``n`` random (supporter, prepared case) pairs."""
    rng = random.Random(seed)
    for _ in range(n):
        yield random_supporter(rng), random_prepared(rng)
