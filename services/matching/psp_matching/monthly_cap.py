"""The monthly cap across matching instances: the chosen team is locked and counted again before it is kept.

Two instances (and a coordinator re-match) may read a supporter's workload at the same time, each seeing one
slot left. After matching, the team's workload locks are taken and their cases this month counted again from
committed rows; whoever now sits at the cap fails the constraint and the case is matched again. The locks are
held to the commit, so the next transaction's count sees this one's assignment.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from psp_matching.adapters.roster import RosterRepository
from psp_matching.adapters.workload import Month, WorkloadRepository
from psp_matching.domain.matcher import match
from psp_matching.domain.model import CaseProfile, Facts, MatchResult, Policy

log = logging.getLogger("psp.matching")


async def match_within_cap(
    roster: RosterRepository, case: CaseProfile, facts: Facts, policy: Policy, month: Month
) -> MatchResult:
    """Match ``case``; a team member another transaction brought to the cap meanwhile is replaced.

    Ends: a supporter's count is final once locked, so each round either keeps the team or learns the true
    count of someone it had not locked yet.
    """
    supporters = await roster.roster()
    while True:
        result = match(case, supporters, facts, policy)
        if result.primary is None:
            return result
        team = [result.primary.ref, *(r.ref for r in result.co_facilitators)]
        counts = await WorkloadRepository(roster.session).lock_month_counts(team, month, case.case_id)
        stale = {ref: n for ref, n in counts.items() if facts.month_counts.get(ref, 0) != n}
        if not stale:
            return result
        log.info("case %s: %d of the team took cases meanwhile; matching again", case.case_id, len(stale))
        facts = replace(facts, month_counts={**facts.month_counts, **stale})
