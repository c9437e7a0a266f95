"""Benchmark: match one case against a 10,000-supporter roster with the pure domain matcher.

Run with ``uv run python bench/matching_bench.py [roster_size] [rounds]``; prints timings and the result.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime
from datetime import time as clock

from psp_matching.domain.matcher import match, unmatched_reasons
from psp_matching.domain.model import CaseProfile, ContactHours, Facts, Person, Policy, Supporter

PROFESSIONS = ("rn", "physician", "rt", "pharmacist", "social_work")
SITES = ("GEN", "NORTH", "EAST", "WEST")
ZONES = ("America/Toronto", "America/Vancouver", "America/Halifax")


def roster(size: int, rng: random.Random) -> list[Supporter]:
    """A synthetic roster with every attribute the constraints and preferences look at."""
    out = []
    for i in range(size):
        hours = None
        if rng.random() < 0.5:
            start = rng.randint(6, 10)
            hours = ContactHours(clock(start), clock(start + rng.randint(8, 12)), rng.choice(ZONES))
        out.append(
            Supporter(
                ref=f"ps_{i:08d}",
                profession=rng.choice(PROFESSIONS),
                seniority_level=rng.randint(1, 5),
                site=rng.choice(SITES),
                years_experience=rng.randint(0, 35),
                languages=frozenset(rng.sample(("en", "fr", "es", "pa", "zh"), rng.randint(1, 2))),
                group_facilitation=rng.random() < 0.4,
                mental_health_credentials=rng.random() < 0.2,
                contact_hours=hours,
                accepts_immediate_outside_hours=rng.random() < 0.3,
                active=rng.random() < 0.95,
                paused=rng.random() < 0.05,
                evaluates=frozenset(f"ps_person_{rng.randint(0, 50)}" for _ in range(rng.randint(0, 3))),
                supervises=frozenset(f"ps_person_{rng.randint(0, 50)}" for _ in range(rng.randint(0, 2))),
            )
        )
    return out


def main() -> None:
    """Time the matcher and print the outcome."""
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    rng = random.Random(7)
    supporters = roster(size, rng)
    refs = [s.ref for s in supporters]
    facts = Facts(
        now=datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
        on_shift=frozenset(rng.sample(refs, size // 5)),
        month_counts={r: rng.randint(0, 2) for r in rng.sample(refs, size // 3)},
        recent_counts={r: rng.randint(1, 4) for r in rng.sample(refs, size // 3)},
        on_case=frozenset(rng.sample(refs, 2)),
        supporting_person=frozenset(rng.sample(refs, 5)),
    )
    people = tuple(Person(f"ps_person_{i}", "rn", rng.randint(1, 4), frozenset({"fr"})) for i in range(3))
    cases = {
        "individual tier 2": CaseProfile("c1", "GEN", people[:1], "within_hours", "individual", 2),
        "group tier 3 immediate": CaseProfile("c2", "GEN", people, "immediate", "group", 3),
    }
    policy = Policy()
    print(f"matching one case against {size:,} supporters, {rounds} rounds each")
    for name, case in cases.items():
        timings = []
        result = match(case, supporters, facts, policy)
        for _ in range(rounds):
            t0 = time.perf_counter()
            result = match(case, supporters, facts, policy)
            timings.append((time.perf_counter() - t0) * 1000)
        timings.sort()
        p95 = timings[min(len(timings) - 1, int(0.95 * len(timings)))]
        print(f"\n{name}: median {statistics.median(timings):.1f} ms, min {timings[0]:.1f} ms, p95 {p95:.1f} ms")
        print(
            f"  eligible {result.eligible:,} of {result.roster_size:,}; excluded by constraint: "
            f"{dict(sorted(result.excluded.items()))}"
        )
        if result.primary is None:
            print("  unmatched:", "; ".join(unmatched_reasons(result)))
            continue
        print(f"  primary {result.primary.ref} score {result.primary.score:.2f}: {', '.join(result.primary.reasons)}")
        for co in result.co_facilitators:
            print(f"  co-facilitator {co.ref} score {co.score:.2f}")
        for b in result.backups:
            print(f"  backup {b.ref} score {b.score:.2f}")


if __name__ == "__main__":
    main()
