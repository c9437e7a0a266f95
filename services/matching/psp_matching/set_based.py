"""The consumers' handlers (the only ones: one event is a batch of one): a consumed batch is read in one query
per table, decided in memory event by event, in order, and written in one statement per table
(``adapters.batch``).

Each event is decided exactly as it would be in a batch of its own, after the batch's earlier events: their
matches count toward the monthly cap, fairness and continuity of the later ones, and a case seen twice is
decided on what its first event made of it. The workload is read as tallies (O(supporters) rows,
``adapters.tally``), not team rows. The monthly cap across instances: once the batch is decided, every
supporter it put on a team is locked (one statement) and their tallies read again (one query per table); when
another transaction gave one of them a case meanwhile, the batch is decided again with those counts (as
``monthly_cap`` does for a coordinator's re-match), until every supporter chosen is locked and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psp_common.db import UnitOfWork
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_matching.adapters import batch
from psp_matching.adapters.case_rows import case_values, to_case
from psp_matching.adapters.messages import publish
from psp_matching.adapters.roster import RosterRepository, ShiftsNear, profiles, transaction_time
from psp_matching.adapters.workload import Month, Workload, WorkloadRepository, day_of, month_of
from psp_matching.domain.cases import Action, Assignment, Case, Request
from psp_matching.domain.errors import CaseError
from psp_matching.domain.events import Event
from psp_matching.domain.matcher import match
from psp_matching.domain.model import Facts, Policy, Supporter
from psp_matching.facts import requested_at
from psp_matching.handlers import Deps, as_request, policy_from

log = logging.getLogger("psp.matching")


@dataclass
class Snapshot:
    """What a batch of requests needs, read once: its stored cases (locked), their active teams, the staff
    directory, roster and shifts, team rows (workload) and active assignments of the people (continuity)."""

    rows: dict[str, dict[str, Any]]
    on_case: dict[str, frozenset[str]]
    directory: dict[str, Any]
    roster: list[Supporter]
    shifts: ShiftsNear
    workload: Workload  # as read: the first round adds the batch's rows to it, a next one starts again
    support: list[batch.SupportRow]


class Support:
    """Active assignments of the batch's people (continuity): whom each supports since when, and its team; by
    case (a new assignment supersedes the case's active ones) and by person."""

    def __init__(self, rows: Iterable[batch.SupportRow]) -> None:
        people: dict[str, dict[str, datetime]] = {}
        teams: dict[str, set[str]] = {}
        self._of_case: dict[str, set[str]] = {}
        self._of_person: dict[str, set[str]] = {}
        for aid, case_id, person, at, ref in rows:
            people.setdefault(aid, {})[person] = at
            teams.setdefault(aid, set()).add(ref)
            self._of_case.setdefault(case_id, set()).add(aid)
            self._of_person.setdefault(person, set()).add(aid)
        self._active = {aid: (people[aid], frozenset(teams[aid])) for aid in people}

    def supporting(self, names: frozenset[str], since: datetime) -> frozenset[str]:
        """Supporters on an active assignment for any of ``names`` since ``since``."""
        out: set[str] = set()
        for name in names:
            for aid in self._of_person.get(name, ()):
                found = self._active.get(aid)
                if found is not None and found[0][name] >= since:
                    out |= found[1]
        return frozenset(out)

    def replace(self, a: Assignment) -> None:
        """The case's new assignment, superseding its active ones."""
        for aid in self._of_case.pop(a.case_id, ()):
            self._active.pop(aid, None)
        self._of_case[a.case_id] = {a.assignment_id}
        self._active[a.assignment_id] = (dict.fromkeys(a.supported, a.created_at), frozenset(a.team))
        for person in a.supported:
            self._of_person.setdefault(person, set()).add(a.assignment_id)


@dataclass
class View:
    """One round of deciding the batch in memory, from the snapshot plus what its earlier events made."""

    snap: Snapshot
    seen: Workload  # tallies: as read, then what the batch's earlier events made
    cases: dict[str, Case] = field(default_factory=dict)
    on_case: dict[str, frozenset[str]] = field(default_factory=dict)
    support: Support = field(init=False)
    made: list[Assignment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    chosen: set[str] = field(default_factory=set)
    decisions: Counter[str] = field(default_factory=Counter)

    last_month: Month | None = None

    def __post_init__(self) -> None:
        self.on_case = dict(self.snap.on_case)
        self.support = Support(self.snap.support)

    def month(self, at: datetime, tz: str) -> Month:
        """The cap's month ``at`` falls in (the batch's cases mostly share one)."""
        if self.last_month is None or not self.last_month.holds(at):
            self.last_month = month_of(at, tz)
        return self.last_month

    def case(self, request: Request, discipline: str, now: datetime) -> Case:
        """The case as stored or as the batch left it; a new one when neither."""
        found = self.cases.get(request.case_id)
        if found is None:
            row = self.snap.rows.get(request.case_id)
            found = to_case(row) if row is not None else Case.open(request, discipline, now)
        return found

    def keep(self, case: Case) -> None:
        """What saving the case would store, as later events of the batch must see it."""
        self.cases[case.case_id] = case
        a = case.new_assignment
        if a is not None:
            self.made.append(a)
            self.on_case[case.case_id] = frozenset(a.team)
            self.support.replace(a)
            self.seen.add((m.supporter_ref, m.case_id, m.created_at) for m in a.members())
        self.events.extend(case.events)
        case.stored, case.new_assignment, case.events = True, None, []


async def on_outreach_requested_many(events: Sequence[OutreachRequested], uow: UnitOfWork, deps: Deps) -> None:
    """Match a batch's (possibly repeated) cases, each judged when rules requested it (``domain.cases.decide``),
    as batches of one each would one after another."""
    session, roster = uow.session, RosterRepository(uow.session, deps.pseudo.pseudonyms_of)
    now, policy = transaction_time(session, deps.clock), policy_from(deps.settings)
    asked = [(as_request(e), requested_at(e)) for e in events]  # what each event asks, and as of when
    snap = await read_snapshot(roster, asked, deps)
    loaded = {case_id: case_values(to_case(row)) for case_id, row in snap.rows.items()}  # to write what changed
    workload, locked, seen = WorkloadRepository(session), set[str](), snap.workload
    while True:
        view = View(snap, seen)
        for request, at in asked:
            decide(view, request, at, deps, policy, now)
        fresh = view.chosen - locked
        if not fresh:
            break
        got = await workload.lock_and_read(fresh, seen.months, seen.floor)
        locked |= fresh
        if got == seen.tallies.of(fresh):
            break
        log.info("%d of the batch's supporters took cases meanwhile; matching the batch again", len(fresh))
        seen = seen.again(seen.tallies.replaced(got, fresh))
    await batch.save_cases(session, loaded, list(view.cases.values()), view.made, view.seen.added)
    await publish(uow, roster, view.events)
    log.info("batch of %d requests: %s", len(events), dict(sorted(view.decisions.items())))


async def read_snapshot(roster: RosterRepository, asked: Sequence[tuple[Request, datetime]], deps: Deps) -> Snapshot:
    """One query per table for the whole batch (the cases locked in id order)."""
    session, s = roster.session, deps.settings
    requests, ats = [r for r, _ in asked], [at for _, at in asked]
    rows = await batch.locked_cases(session, {r.case_id for r in requests})
    names: set[str] = set()
    for r in requests:
        names.update(r.roles, (old for olds in r.aliases.values() for old in olds))
    for row in rows.values():
        names.update(row["people"], row["aliases"] or (), (o for olds in (row["aliases"] or {}).values() for o in olds))
    months = {month_of(at, s.cap_time_zone).first for at in ats}
    floor = min(day_of(at - timedelta(days=s.fairness_window_days)) for at in ats)
    return Snapshot(
        rows=rows,
        on_case=await batch.active_teams(session, rows),
        directory=await roster.directory(names),
        roster=await roster.roster(),
        shifts=await roster.shifts_around(min(ats), max(ats)),
        workload=await WorkloadRepository(session).read_batch(rows, months, floor, s.cap_time_zone),
        support=await batch.support(session, names, min(ats) - timedelta(days=s.continuity_window_days)),
    )


def decide(view: View, request: Request, at: datetime, deps: Deps, policy: Policy, now: datetime) -> None:
    """One request, judged at ``at``, in memory on the batch's view: open or load the case, let it say whether
    the request needs a match (``Case.request``), match it on the facts as of ``at``, keep what it recorded."""
    s = deps.settings
    case = view.case(request, s.default_discipline, now)
    action, why = case.request(request, now)
    if action is not Action.IGNORE:
        persons = profiles(case.people, case.roles, case.aliases, view.snap.directory, view.snap.roster)
        names = frozenset(n for p in persons for n in (p.ref, *p.aliases))
        month, recent = view.seen.counts(
            view.month(at, s.cap_time_zone), at - timedelta(days=s.fairness_window_days), case.case_id
        )
        facts = Facts(
            now=at,
            on_shift=view.snap.shifts.covering(at),
            month_counts=month,
            recent_counts=recent,
            on_case=view.on_case.get(case.case_id, frozenset()) if case.stored else frozenset(),
            supporting_person=view.support.supporting(names, at - timedelta(days=s.continuity_window_days)),
        )
        result = match(case.profile(persons), view.snap.roster, facts, policy)
        if result.primary is not None:
            view.chosen.update(r.ref for r in (result.primary, *result.co_facilitators))
        case.record_match(result, why, at, now, publish_unmatched=action is not Action.RETRY)
    log.debug("case %s: %s", case.case_id, case.last_decision)
    view.decisions[case.last_decision.split(" (")[0].split(":")[0]] += 1
    view.keep(case)


async def on_status_many(events: Sequence[OutreachStatusChanged], uow: UnitOfWork, deps: Deps) -> None:
    """A batch of closures and acknowledgements, in order. A closed outreach starts its case's retention clock
    (at ``occurred_at``: a replay purges on the same day); a backup who acknowledged (paged when the primary did
    not answer) joins the team: the monthly cap and fairness count the case for them from when they acknowledged.
    Statuses of unknown cases change nothing."""
    session = uow.session
    rows = await batch.locked_cases(session, {str(e.case_id) for e in events})
    acks = [e for e in events if e.status is not OutreachStatus.CLOSED and str(e.case_id) in rows]
    teams = await batch.teams(session, {str(e.case_id) for e in acks})
    await WorkloadRepository(session).lock({e.supporter_ref for e in acks if e.supporter_ref})
    cases: dict[str, Case] = {}
    for event in events:
        case_id = str(event.case_id)
        if case_id not in rows:
            continue
        case = cases.get(case_id)
        if case is None:
            case = cases[case_id] = to_case(rows[case_id])
            case.teams = dict(teams.get(case_id, {}))
        _apply_status(case, event)
    loaded = {case_id: case_values(to_case(rows[case_id])) for case_id in cases}
    joined = [m for case in cases.values() for m in case.joined]
    await batch.save_closed_and_joined(session, loaded, list(cases.values()), joined, deps.settings.cap_time_zone)


def _apply_status(case: Case, event: OutreachStatusChanged) -> None:
    try:
        if event.status is OutreachStatus.CLOSED:
            case.close(event.occurred_at.astimezone(UTC))
        elif case.backup_acknowledged(str(event.assignment_id), event.supporter_ref or "", event.occurred_at):
            log.info("case %s: a backup acknowledged; counted toward their monthly cap", case.case_id)
    except CaseError as exc:
        log.info("case %s: status %s ignored (%s)", case.case_id, event.status.value, exc.reason)
