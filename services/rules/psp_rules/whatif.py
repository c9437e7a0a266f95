"""What-if: decide the stored history of the last months under the active rule set and under a draft, in memory,
and compare. Read-only: the session is only read (the caller rolls it back), nothing is published.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_rules import drafts
from psp_rules.adapters.facts import FactRepository
from psp_rules.adapters.orm import opt_outs
from psp_rules.adapters.repository import RuleSetRepository
from psp_rules.adapters.ruleset_schema import RuleSetDoc
from psp_rules.domain.compare import Comparison, compare
from psp_rules.domain.model import RuleSet
from psp_rules.domain.replay import Replay
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


class _RuleSets:
    """The active and the draft rule set of each facility met, read once."""

    def __init__(self, session: AsyncSession, cfg: RulesConfig, scope: str, doc: RuleSetDoc) -> None:
        self.repo, self.cfg, self.scope, self.doc = RuleSetRepository(session), cfg, scope, doc
        self.sets: dict[str, tuple[RuleSet, RuleSet]] = {}

    async def of(self, facility: str) -> tuple[RuleSet, RuleSet]:
        if facility not in self.sets:
            active = await effective_ruleset(self.repo, facility, self.cfg, seed=None)
            draft = await drafts.draft_ruleset(self.repo, facility, self.cfg, self.scope, self.doc)
            self.sets[facility] = (active, draft)
        return self.sets[facility]


async def what_if(
    session: AsyncSession,
    cfg: RulesConfig,
    scope: str,
    doc: RuleSetDoc,
    since: datetime,
    until: datetime,
    *,
    opted_out: Mapping[str, frozenset[str]] | None = None,
) -> tuple[Comparison, Replay, Replay]:
    """Replay the versions that occurred in [since, until] (of facility ``scope`` for a facility's draft) under
    both rule sets; the comparison and both replays (tests cross-check the replays case by case)."""
    blocked = await opt_out_scopes(session) if opted_out is None else opted_out
    active = Replay(cfg.group, cfg.merge_window_hours, blocked)
    draft = Replay(cfg.group, cfg.merge_window_hours, blocked)
    sets = _RuleSets(session, cfg, scope, doc)
    versions = 0
    facility = None if scope == DEFAULT_SCOPE else scope
    async for chunk in FactRepository(session).chunks(since, until, facility):
        for fact in chunk:
            rules_now, rules_draft = await sets.of(fact.incident.facility)
            active.decide(fact.incident, rules_now)
            draft.decide(fact.incident, rules_draft)
        versions += len(chunk)
    return compare(active, draft, versions), active, draft
