"""A matching case: the aggregate, and what to do with a repeated OutreachRequested (pure Python)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from psp_matching.domain.errors import CaseClosed, NotThisCase
from psp_matching.domain.events import CaseFacts, Event, SupporterMatched, SupporterUnmatched
from psp_matching.domain.matcher import unmatched_reasons
from psp_matching.domain.model import GROUP, URGENCY_RANK, CaseProfile, MatchResult, Person, Ranked


class Action(StrEnum):
    """Decision for an OutreachRequested."""

    MATCH = "match"  # first time this case is seen
    REMATCH = "rematch"  # urgency/tier rose, new people, or now a group: a new assignment supersedes the old
    RETRY = "retry"  # nobody was eligible last time: try again, publish only if someone is found
    IGNORE = "ignore"  # same or lower urgency, same people: the existing assignment stands


@dataclass(frozen=True)
class PriorCase:
    """What matching stored about the case."""

    urgency: str
    people: frozenset[str]
    matched: bool
    tier: int = 1
    mode: str = "individual"


def decide(
    prior: PriorCase | None, urgency: str, people: frozenset[str], tier: int = 1, mode: str = "individual"
) -> tuple[Action, str]:
    """Decide whether a (repeated) request creates a new assignment, and why."""
    if prior is None:
        return Action.MATCH, "new case"
    if URGENCY_RANK[urgency] > URGENCY_RANK[prior.urgency]:
        return Action.REMATCH, f"urgency rose from {prior.urgency} to {urgency}"
    if not people <= prior.people:
        return Action.REMATCH, "new people on the case"
    if tier > prior.tier:
        return Action.REMATCH, f"tier rose from {prior.tier} to {tier}"
    if mode == GROUP and prior.mode != GROUP:
        return Action.REMATCH, "became a group intervention"
    if not prior.matched:
        return Action.RETRY, "previously unmatched"
    return Action.IGNORE, "same people, urgency and tier did not rise"


NEW, MATCHED, UNMATCHED = "new", "matched", "unmatched"  # a case's status (closed: ``closed_at`` is set)
PRIMARY, CO_FACILITATOR, BACKUP = "primary", "co_facilitator", "backup"  # team roles
KEPT = "the previous assignment stays active"


@dataclass(frozen=True)
class Request:
    """What an OutreachRequested asks of the case."""

    case_id: str
    correlation_id: str
    incident_ref: str
    report_version: int
    facility: str
    unit: str
    urgency: str
    mode: str
    tier: int
    roles: dict[str, str | None]  # pseudonym -> role, per person named
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # pseudonym -> names under previous keys

    @property
    def renames(self) -> dict[str, str]:
        """Previous-key name -> the pseudonym the request uses now."""
        return {old: ref for ref, olds in self.aliases.items() for old in olds}


@dataclass(frozen=True)
class Candidate:
    """A supporter proposed on an assignment, as stored."""

    supporter_ref: str
    role: str
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Assignment:
    """A team made for the case; the cap and fairness count it from ``created_at`` (when it was judged)."""

    assignment_id: str
    case_id: str
    urgency: str
    primary_ref: str
    team: tuple[str, ...]
    supported: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    created_at: datetime

    def members(self) -> list[TeamMember]:
        """The team rows the monthly cap and fairness count from ``created_at``: primary and co-facilitators.
        Backups count only once they acknowledge (``Case.backup_acknowledged``). The one rule every writer of team
        rows and a batch's in-memory counting follow."""
        return [
            TeamMember(self.assignment_id, c.supporter_ref, self.case_id, c.role, self.created_at)
            for c in self.candidates
            if c.role != BACKUP
        ]


@dataclass(frozen=True)
class TeamMember:
    """A supporter on an assignment's team (counted toward their monthly cap from ``created_at``)."""

    assignment_id: str
    supporter_ref: str
    case_id: str
    role: str
    created_at: datetime


def renamed_people(
    people: list[str], roles: dict[str, str | None], aliases: dict[str, list[str]], rename: dict[str, str]
) -> tuple[list[str], dict[str, str | None], dict[str, list[str]]]:
    """People, roles and aliases with the old names in ``rename`` replaced by the current ones (kept as aliases)."""
    hit = rename.keys() & set(people)
    if not hit:
        return people, roles, aliases
    out = {rename.get(k, k): list(v) for k, v in aliases.items()}
    for old in hit:
        out[rename[old]] = list(dict.fromkeys([*out.get(rename[old], ()), old]))
    return sorted({rename.get(n, n) for n in people}), {rename.get(k, k): v for k, v in roles.items()}, out


@dataclass
class Case:
    """The aggregate: an outreach case matching staffs, its state machine and the events it records.

    new -> matched | unmatched (a request, or a coordinator's re-match); matched/unmatched -> matched (a rematch
    supersedes the assignment) | unmatched (nobody eligible: a matched case keeps its assignment); a backup who
    acknowledged joins a team (the cap counts them); closed (retention starts): nothing is matched again.
    """

    case_id: str
    correlation_id: str
    incident_ref: str
    report_version: int
    facility: str
    unit: str
    urgency: str
    mode: str
    tier: int
    discipline: str
    people: list[str]
    roles: dict[str, str | None]
    aliases: dict[str, list[str]]
    created_at: datetime
    updated_at: datetime
    status: str = NEW
    assignment_id: str | None = None
    reasons: list[str] = field(default_factory=list)
    last_decision: str = ""
    closed_at: datetime | None = None
    purged_at: datetime | None = None
    teams: dict[str, frozenset[str]] = field(default_factory=dict)  # assignment id -> team (when loaded)
    stored: bool = True  # False until the repository has written it
    new_assignment: Assignment | None = None  # made in this transaction, to store
    joined: list[TeamMember] = field(default_factory=list)  # backups who joined in this transaction, to store
    events: list[Event] = field(default_factory=list)

    @classmethod
    def open(cls, request: Request, discipline: str, now: datetime) -> Case:
        """A case first seen: status new until its first match decides it."""
        r = request
        people = sorted(r.roles)
        aliases = {k: list(v) for k, v in r.aliases.items() if v}
        return cls(
            r.case_id, r.correlation_id, r.incident_ref, r.report_version, r.facility, r.unit, r.urgency, r.mode,
            r.tier, discipline, people, dict(r.roles), aliases, created_at=now, updated_at=now, stored=False,
        )  # fmt: skip

    @property
    def closed(self) -> bool:
        """Whether the outreach closed."""
        return self.closed_at is not None

    def request(self, r: Request, now: datetime) -> tuple[Action, str]:
        """A (repeated) request: ignored, or merged in (never de-escalating) and to be matched; see ``decide``."""
        self.people, self.roles, self.aliases = renamed_people(self.people, self.roles, self.aliases, r.renames)
        prior = PriorCase(self.urgency, frozenset(self.people), self.status == MATCHED, self.tier, self.mode)
        action, why = decide(prior if self.stored else None, r.urgency, frozenset(r.roles), r.tier, r.mode)
        if self.closed:
            action, why = Action.IGNORE, "the outreach is already closed"
        self.updated_at = now
        if action is Action.IGNORE:
            self.last_decision = f"ignored repeat: {why}"
            return action, why
        self.correlation_id, self.incident_ref, self.report_version = r.correlation_id, r.incident_ref, r.report_version
        self.facility, self.unit = r.facility, r.unit
        self.people = sorted({*self.people, *r.roles})
        self.roles = {**self.roles, **r.roles}
        for ref, olds in r.aliases.items():
            if olds:
                self.aliases[ref] = list(dict.fromkeys([*self.aliases.get(ref, ()), *olds]))
        self.urgency = max(r.urgency, self.urgency, key=URGENCY_RANK.__getitem__)
        self.tier, self.mode = max(r.tier, self.tier), GROUP if GROUP in (r.mode, self.mode) else r.mode
        return action, why

    def rematch(self, discipline: str | None) -> None:
        """A coordinator asks for a new match (optionally preferring another discipline)."""
        if self.closed:
            raise CaseClosed
        if discipline is not None:
            self.discipline = discipline

    def record_match(
        self, result: MatchResult, why: str, at: datetime, now: datetime, publish_unmatched: bool = True
    ) -> None:
        """The matcher's outcome, judged at ``at``: a new assignment, or nobody eligible."""
        if self.closed:
            raise CaseClosed
        self.updated_at = now
        if result.primary is None:
            self._unmatched(unmatched_reasons(result), why, now, publish_unmatched)
        else:
            self._matched(result, result.primary, why, at, now)

    def _unmatched(self, found: tuple[str, ...], why: str, now: datetime, publish: bool) -> None:
        self.reasons = [*found, KEPT] if self.assignment_id else list(found)
        self.status = MATCHED if self.assignment_id else UNMATCHED
        self.last_decision = f"unmatched ({why})"
        if publish:
            self.events.append(SupporterUnmatched(self._facts(), tuple(self.reasons), now))

    def _matched(self, result: MatchResult, primary: Ranked, why: str, at: datetime, now: datetime) -> None:
        previous, aid = self.assignment_id, str(uuid.uuid4())
        team = (primary, *result.co_facilitators)
        roles = [(primary, PRIMARY), *((r, CO_FACILITATOR) for r in result.co_facilitators)]
        roles += [(r, BACKUP) for r in result.backups]
        candidates = tuple(Candidate(r.ref, role, round(r.score, 4), r.reasons) for r, role in roles)
        refs = tuple(r.ref for r in team)
        self.new_assignment = Assignment(aid, self.case_id, self.urgency, primary.ref, refs, tuple(sorted(self.people)),
                                         candidates, at)  # fmt: skip
        self.teams[aid] = frozenset(refs)
        self.status, self.assignment_id, self.reasons = MATCHED, aid, list(result.notes)
        self.last_decision = f"matched ({why})"
        event = SupporterMatched(self._facts(), aid, primary, result.co_facilitators, result.backups, result.notes,
                                 previous, now)  # fmt: skip
        self.events.append(event)

    def backup_acknowledged(self, assignment_id: str, supporter_ref: str, at: datetime) -> bool:
        """A backup who took the page joins that assignment's team; False when already on it (the primary)."""
        team = self.teams.get(assignment_id)
        if team is None:
            raise NotThisCase
        if supporter_ref in team:
            return False
        self.teams[assignment_id] = team | {supporter_ref}
        self.joined.append(TeamMember(assignment_id, supporter_ref, self.case_id, BACKUP, at))
        return True

    def close(self, at: datetime) -> bool:
        """The outreach closed at ``at`` (the retention clock starts); False when it had closed already."""
        if self.closed:
            return False
        self.closed_at = at
        return True

    def profile(self, persons: tuple[Person, ...]) -> CaseProfile:
        """The case as the matcher sees it, with the people's profiles."""
        return CaseProfile(self.case_id, self.facility, persons, self.urgency, self.mode, self.tier, self.discipline)

    def _facts(self) -> CaseFacts:
        return CaseFacts(self.case_id, self.correlation_id, self.facility, self.unit, tuple(sorted(self.people)),
                         self.urgency, self.mode, self.tier)  # fmt: skip
