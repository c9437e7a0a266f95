"""Matching domain model: supporters, cases and the facts matching looks at (pure Python)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

URGENCY_RANK: Mapping[str, int] = {"within_days": 0, "within_hours": 1, "immediate": 2}
IMMEDIATE = "immediate"
GROUP = "group"


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """Cached IANA zone lookup."""
    return ZoneInfo(name)


def local_time(now: datetime, tz: str) -> time:
    """Wall-clock time of ``now`` in zone ``tz``."""
    return now.astimezone(zone(tz)).time().replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class ContactHours:
    """A daily window, in the supporter's local time, when they accept contact (end may pass midnight)."""

    start: time
    end: time
    tz: str

    def contains(self, now: datetime) -> bool:
        """Whether the aware instant ``now`` falls in the window."""
        return self.contains_local(local_time(now, self.tz))

    def contains_local(self, local: time) -> bool:
        """Whether a wall-clock time in the supporter's zone falls in the window."""
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True, slots=True)
class Supporter:
    """A trained peer supporter as the matcher sees them (pseudonym only, no contact details)."""

    ref: str
    profession: str
    seniority_level: int
    site: str
    years_experience: int = 0
    languages: frozenset[str] = frozenset()
    group_facilitation: bool = False
    mental_health_credentials: bool = False
    contact_hours: ContactHours | None = None
    accepts_immediate_outside_hours: bool = False
    active: bool = True
    paused: bool = False
    evaluates: frozenset[str] = frozenset()
    supervises: frozenset[str] = frozenset()
    monthly_cap: int | None = None
    aliases: frozenset[str] = frozenset()  # the supporter's pseudonyms under the other active keys (rotation)


@dataclass(frozen=True, slots=True)
class Person:
    """A clinician to support: pseudonym plus whatever the staff directory knows."""

    ref: str
    profession: str | None = None
    seniority_level: int | None = None
    languages: frozenset[str] = frozenset()
    aliases: frozenset[str] = frozenset()  # the same person under previous keys still active (key rotation)


@dataclass(frozen=True, slots=True)
class CaseProfile:
    """An outreach case as the matcher sees it (the people's profiles; ``domain.cases.Case`` is the aggregate)."""

    case_id: str
    facility: str
    people: tuple[Person, ...]
    urgency: str
    mode: str
    tier: int
    discipline: str = "same"


@dataclass(frozen=True)
class Facts:
    """State around the case at matching time: shifts, workload and history, keyed by supporter pseudonym."""

    now: datetime
    on_shift: frozenset[str] = frozenset()
    month_counts: Mapping[str, int] = field(default_factory=dict)
    recent_counts: Mapping[str, int] = field(default_factory=dict)
    on_case: frozenset[str] = frozenset()
    supporting_person: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Weights:
    """Weights of the soft preferences."""

    on_shift: float = 3.0
    discipline: float = 2.0
    same_site: float = 2.0
    language: float = 1.0
    fairness: float = 1.0
    continuity: float = 4.0


@dataclass(frozen=True)
class Policy:
    """Configurable numbers of the matching policy."""

    monthly_cap: int = 2
    max_backups: int = 3
    group_team_size: int = 2
    fairness_window_days: int = 30
    weights: Weights = field(default_factory=Weights)


@dataclass(frozen=True, slots=True)
class Ranked:
    """An eligible supporter with a score and the reasons for it."""

    ref: str
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class MatchResult:
    """Outcome of matching one case: a team and backups, or the exclusion counts by constraint.

    ``excluded`` counts each supporter under every constraint it fails when nobody is eligible, and
    under its first failing constraint otherwise (the fast path).
    """

    primary: Ranked | None
    co_facilitators: tuple[Ranked, ...] = ()
    backups: tuple[Ranked, ...] = ()
    excluded: Mapping[str, int] = field(default_factory=dict)
    roster_size: int = 0
    eligible: int = 0
    notes: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        """Whether a primary was found."""
        return self.primary is not None
