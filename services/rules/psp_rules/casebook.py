"""What a consumed batch can touch, read once and decided on in memory, event after event; written at the end.

The book holds the open cases (with every member row) of the batch's people and incidents, their opt-outs and the
decision history of its incidents: one query per table for the whole batch. Each event is decided on what the
book says then, and what it changes (cases opened, people merged or added, cases raised, the decision, the facts)
updates the book at once, so the next event of the same person or incident sees it, exactly as if the events
were handled one after another. ``flush`` writes it all with one statement (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_rules import rotation
from psp_rules.adapters.batch_write import BatchWrite
from psp_rules.adapters.facts import fact_row
from psp_rules.adapters.repository import ALL_SCOPE, CaseRepository, Member, OptOutRepository, distinct_members
from psp_rules.domain.engine import Action, ActionKind
from psp_rules.domain.model import Incident, Mode, OpenCase, Person, Urgency

AddMembers = Callable[[str, tuple[str, ...], Incident, str], None]


@dataclass(slots=True)
class BookCase:
    """An open case: its row (current values) and member rows in joining order."""

    row: dict[str, Any]
    members: list[dict[str, Any]] = field(default_factory=list)
    new: bool = False  # opened in this batch: inserted with its final values
    raised: bool = False  # an existing case whose urgency or tier changed
    seen: OpenCase | None = None  # the engine's view, until the case changes

    def view(self) -> OpenCase:
        """The case as the engine sees it (as ``CaseRepository`` read it before batches)."""
        if self.seen is None:
            occurred: dict[str, list[datetime]] = {}
            for m in self.members:
                occurred.setdefault(m["pseudonym"], []).append(aware(m["occurred_at"]) or m["occurred_at"])
            r = self.row
            self.seen = OpenCase(
                r["case_id"], r["incident_ref"], Mode(r["mode"]), Urgency(r["urgency"]), r["tier"],
                tuple(occurred), {n: tuple(t) for n, t in occurred.items()},
                frozenset(m["incident_ref"] for m in self.members),
            )  # fmt: skip
        return self.seen


class CaseBook:
    """The batch's cases, opt-outs and history in memory, and what the batch writes."""

    def __init__(
        self,
        case_rows: list[dict[str, Any]],
        member_rows: list[dict[str, Any]],
        history: dict[str, tuple[int, frozenset[str]]],
        opt_outs: set[tuple[str, str]],
    ) -> None:
        self.cases: dict[str, BookCase] = {r["case_id"]: BookCase(r) for r in case_rows}  # in reading order
        self._by_name: dict[str, set[str]] = {}
        self._by_ref: dict[str, set[str]] = {}
        for c in self.cases.values():
            self._by_ref.setdefault(c.row["incident_ref"], set()).add(c.row["case_id"])
        for m in member_rows:
            self._join(m)
        self._history = dict(history)
        self._opt_outs = opt_outs
        self.new_members: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.facts: list[dict[str, Any]] = []
        self._relinked: dict[str, Person] = {}  # people whose stored rows move to their current pseudonym

    @classmethod
    async def load(
        cls, session: AsyncSession, names: Iterable[str], refs: Iterable[str], facilities: Iterable[str]
    ) -> CaseBook:
        """Read what deciding on these people (every stored name), incidents and facilities needs."""
        refs, repo = list(dict.fromkeys(refs)), CaseRepository(session)
        names = list(dict.fromkeys(names))
        case_rows, member_rows = await repo.open_cases(names, refs)
        history = await repo.histories(refs)
        opt_outs = await OptOutRepository(session).found(names, [ALL_SCOPE, *facilities])
        return cls(case_rows, member_rows, history, opt_outs)

    def _join(self, member: dict[str, Any]) -> None:
        case = self.cases[member["case_id"]]
        case.members.append(member)
        case.seen = None
        self._by_name.setdefault(member["pseudonym"], set()).add(member["case_id"])
        self._by_ref.setdefault(member["incident_ref"], set()).add(member["case_id"])

    # What an event is decided on

    def history(self, ref: str) -> tuple[int | None, frozenset[str]]:
        """The highest version decided for ``ref`` and the units of its versions."""
        return self._history.get(ref, (None, frozenset()))

    def opted_out(self, people: tuple[Person, ...], facility: str) -> frozenset[str]:
        """Current pseudonyms of ``people`` opted out (under any of their names) everywhere or at ``facility``."""
        found = frozenset(
            n for p in people for n in p.names if (n, ALL_SCOPE) in self._opt_outs or (n, facility) in self._opt_outs
        )
        return rotation.opted_out_now(found, people)

    def open_cases(self, people: tuple[Person, ...], ref: str) -> tuple[OpenCase, ...]:
        """Open cases holding any of ``people`` (under any name) or covering ``ref``, members named currently."""
        ids = set(self._by_ref.get(ref, ()))
        for name in rotation.lookup_names(people):
            ids.update(self._by_name.get(name, ()))
        if not ids:
            return ()
        found = tuple(c.view() for cid, c in self.cases.items() if cid in ids)
        return rotation.as_current(found, people)

    # What a decision changes

    def relink(self, people: Iterable[Person]) -> None:
        """Member rows stored under a previous key's pseudonym of ``people`` now hold the current one (``flush``
        moves the stored rows and copies the opt-outs)."""
        for p in people:
            if not p.aliases:
                continue
            self._relinked[p.pseudonym] = p
            for alias in p.aliases:
                for scope in [s for n, s in self._opt_outs if n == alias]:
                    self._opt_outs.add((p.pseudonym, scope))
                for cid in self._by_name.pop(alias, set()):
                    self._rename(self.cases[cid], alias, p)

    def _rename(self, case: BookCase, alias: str, p: Person) -> None:
        held = {(m["pseudonym"], m["incident_ref"]) for m in case.members}
        kept = []
        for m in case.members:
            if m["pseudonym"] == alias:
                if (p.pseudonym, m["incident_ref"]) in held:
                    continue  # the current pseudonym's row already exists: the moved one is dropped
                m.update(pseudonym=p.pseudonym, key_id=p.key_id, aliases=list(p.aliases))  # new rows too
            kept.append(m)
        case.members, case.seen = kept, None
        self._by_name.setdefault(p.pseudonym, set()).add(case.row["case_id"])

    def apply(self, source: Any, incident: Incident, action: Action, now: datetime) -> list[Member] | None:
        """Open, merge into or raise a case for ``action``; the members to name when it publishes (else None)."""
        if action.kind is ActionKind.OPEN:
            row = {
                "case_id": action.case_id, "incident_ref": source.incident_ref, "facility": source.facility,
                "unit": source.unit, "mode": action.mode.value, "urgency": action.urgency.value, "tier": action.tier,
                "opened_at": now, "updated_at": now, "occurred_at": incident.occurred_at,
            }  # fmt: skip
            self.cases[action.case_id] = case = BookCase({**row, "status": "open"}, new=True)
            self._by_ref.setdefault(source.incident_ref, set()).add(action.case_id)
            self._add(action.case_id, action.people, incident, "opened", now)
            return distinct_members(case.members) if action.publish else None
        if action.kind not in (ActionKind.MERGE, ActionKind.ESCALATE, ActionKind.UPDATE):
            return None  # suppressed, covered, not paged: nothing changes
        case = self.cases[action.case_id]
        if action.kind is ActionKind.MERGE:
            self._add(action.case_id, action.people, incident, "merged", now)
        else:
            known = {m["pseudonym"] for m in case.members}
            self._add(action.case_id, tuple(n for n in action.people if n not in known), incident, "added", now)
            case.row.update(urgency=action.urgency.value, tier=action.tier, updated_at=now)
            case.raised, case.seen = not case.new, None
        return distinct_members(case.members) if action.publish else None

    def _add(self, case_id: str, names: tuple[str, ...], incident: Incident, how: str, now: datetime) -> None:
        by_name = {p.pseudonym: p for p in incident.people()}
        for n in names:
            p = by_name[n]
            row = {
                "case_id": case_id, "pseudonym": n, "incident_ref": incident.incident_ref, "key_id": p.key_id,
                "role": p.role, "involvement": p.involvement, "aliases": list(p.aliases) or None, "how": how,
                "joined_at": now, "occurred_at": incident.occurred_at,
            }  # fmt: skip
            self.new_members.append(row)
            self._join(row)

    def record(self, row: dict[str, Any]) -> None:
        """A decision on (``incident_ref``, ``report_version``) in ``unit``: logged, and the history knows it."""
        self.decisions.append(row)
        ref, version, unit = row["incident_ref"], row["report_version"], row["unit"]
        last, units = self._history.get(ref, (version, frozenset()))
        self._history[ref] = (max(last, version), units | {unit})

    def add_facts(self, incident: Incident, now: datetime) -> None:
        """Keep the facts of a newly decided version (what-if)."""
        self.facts.append(fact_row(incident, now))

    async def flush(self, session: AsyncSession, now: datetime) -> None:
        """Write what the batch changed: one statement on PostgreSQL (re-keying after a key rotation aside)."""
        if self._relinked:  # stored rows under old pseudonyms, read before this batch changed anything
            await rotation.relink(session, list(self._relinked.values()), now)
        new = [{k: v for k, v in c.row.items() if k != "status"} for c in self.cases.values() if c.new]
        live = {id(m) for c in self.cases.values() for m in c.members}  # a re-keyed duplicate was dropped
        members = [m for m in self.new_members if id(m) in live]
        raised = [c.row for c in self.cases.values() if c.raised]
        await BatchWrite(new, members, raised, self.decisions, self.facts).write(session)
