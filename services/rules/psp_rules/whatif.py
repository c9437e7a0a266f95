"""What-if: decide the stored history of the last months under the active rule set and under a draft, in memory,
and compare. Read-only: the session is only read (the caller rolls it back), nothing is published.
"""

from __future__ import annotations

import calendar
import copy
import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_rules import drafts
from psp_rules.adapters.facts import FactRepository
from psp_rules.adapters.orm import opt_outs
from psp_rules.adapters.repository import RuleSetRepository
from psp_rules.adapters.ruleset_schema import RuleSetDoc
from psp_rules.domain.compare import Comparison, compare
from psp_rules.domain.model import GroupPolicy, RuleSet
from psp_rules.domain.replay import History, Replay
from psp_rules.handlers import DEFAULT_SCOPE, RulesConfig, effective_ruleset

MAX_MONTHS = 36


def months_before(t: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day when it is shorter)."""
    index = t.year * 12 + t.month - 1 - months
    year, month = divmod(index, 12)
    day = min(t.day, calendar.monthrange(year, month + 1)[1])
    return t.replace(year=year, month=month + 1, day=day)


async def opt_out_scopes(session: AsyncSession) -> dict[str, frozenset[str]]:
    """Every opt-out as it stands now: pseudonym -> scopes (opt-outs keep no history)."""
    found: dict[str, set[str]] = {}
    for name, scope in (await session.execute(select(opt_outs.c.pseudonym, opt_outs.c.scope))).all():
        found.setdefault(name, set()).add(scope)
    return {name: frozenset(scopes) for name, scopes in found.items()}


_paused: list[bool] = []  # one entry per what-if running: whether the collector was on when the first began


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a replay builds its state. A replay keeps hundreds of thousands of
    objects alive until it ends, and each of the collector's passes over the older generations walks all of them:
    at 100,000 versions the collector took about two thirds of the what-if's CPU time. The replay creates no
    reference cycles (reference counting frees what it drops), so there is nothing for the collector to find.
    Overlapping what-ifs share one pause; the last one out turns the collector back on if it was on."""
    _paused.append(gc.isenabled() if not _paused else _paused[0])
    gc.disable()
    try:
        yield
    finally:
        was_on = _paused.pop()
        if not _paused and was_on:
            gc.enable()


class _RuleSets:
    """The active and the draft rule set of every facility in the history, read before the replay."""

    def __init__(self, sets: dict[str, tuple[RuleSet, RuleSet]], group: GroupPolicy, merge_window_hours: float):
        self.sets, self.group, self.merge_window_hours = sets, group, merge_window_hours

    @classmethod
    async def load(
        cls, session: AsyncSession, cfg: RulesConfig, scope: str, doc: RuleSetDoc, facilities: list[str]
    ) -> _RuleSets:
        repo, sets = RuleSetRepository(session), {}
        for facility in facilities:
            active = await effective_ruleset(repo, facility, cfg, seed=None)
            sets[facility] = (active, await drafts.draft_ruleset(repo, facility, cfg, scope, doc))
        return cls(sets, cfg.group, cfg.merge_window_hours)

    def identical(self) -> bool:
        """Whether the draft decides every facility exactly as the active rules do (only the labels differ).

        Only the whole history can be skipped this way, not one facility of it: a person's incidents at
        different facilities merge into one case, so a facility whose rules did not change can still decide
        differently under the draft (a case the draft opens elsewhere absorbs its incident)."""
        return all(self._same(a, d) for a, d in self.sets.values())

    def _same(self, a: RuleSet, d: RuleSet) -> bool:
        return (
            a.rules == d.rules
            and (a.group or self.group) == (d.group or self.group)
            and (a.merge_window_hours or self.merge_window_hours) == (d.merge_window_hours or self.merge_window_hours)
        )

    def relabelled(self, replay: Replay) -> Replay:
        """``replay`` (of the active rules) as the draft's: the same cases and outcomes, the draft's labels."""
        twin = copy.copy(replay)
        twin.versions_used = {self.sets[f][1].version for f in replay.facilities}
        return twin


async def replays(
    session: AsyncSession,
    cfg: RulesConfig,
    scope: str,
    doc: RuleSetDoc,
    since: datetime,
    until: datetime,
    *,
    opted_out: Mapping[str, frozenset[str]] | None = None,
    skip_identical: bool = True,
) -> tuple[Replay, Replay, int]:
    """Replay the versions that occurred in [since, until] (of facility ``scope`` for a facility's draft) under
    both rule sets, in one pass over the stored rows: both replays and how many versions they decided. When the
    draft decides every facility as the active rules do (``skip_identical``), the history is replayed once and
    the draft's replay is the active one under the draft's labels."""
    blocked = await opt_out_scopes(session) if opted_out is None else opted_out
    facts = FactRepository(session)
    facility = None if scope == DEFAULT_SCOPE else scope
    sets = await _RuleSets.load(session, cfg, scope, doc, await facts.facilities(since, until, facility))
    active = Replay(cfg.group, cfg.merge_window_hours, blocked)
    once = skip_identical and sets.identical()
    draft = active if once else Replay(cfg.group, cfg.merge_window_hours, blocked)
    history, versions = History(), 0
    async for chunk in facts.chunks(since, until, facility):
        for incident in chunk:
            version = history.next(incident)
            rules_now, rules_draft = sets.sets[incident.facility]
            active.decide(version, rules_now)
            if not once:
                draft.decide(version, rules_draft)
        versions += len(chunk)
    return active, sets.relabelled(active) if once else draft, versions


async def what_if(
    session: AsyncSession,
    cfg: RulesConfig,
    scope: str,
    doc: RuleSetDoc,
    since: datetime,
    until: datetime,
    *,
    opted_out: Mapping[str, frozenset[str]] | None = None,
) -> Comparison:
    """What the draft changes on the versions that occurred in [since, until]: both replays compared (and dropped
    before the garbage collector is back on, so it never walks them)."""

    async def compared() -> Comparison:
        active, draft, versions = await replays(session, cfg, scope, doc, since, until, opted_out=opted_out)
        return compare(active, draft, versions)

    with gc_paused():
        return await compared()
