"""The decision engine: which rules fire, then who gets a new case, an escalation, a merge or nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache

from psp_common.ids import uuid5_text
from psp_rules.domain.model import (
    Context,
    GroupPolicy,
    Hit,
    Incident,
    Mode,
    OpenCase,
    Person,
    RuleSet,
    Urgency,
    most_urgent,
)

CASE_NAMESPACE = uuid.UUID("6f1d3c1e-6b53-4c39-9a8e-5b0f2d1c7a10")


class ActionKind(StrEnum):
    """What happens to a person or case."""

    OPEN = "opened"
    ESCALATE = "escalated"
    UPDATE = "group updated"
    MERGE = "merged"
    SUPPRESS = "suppressed: opted out"
    COVERED = "already covered"
    TRIAGE = "routed to triage"  # a triage rule fired: the coordinator is asked (TriageRequested)
    HELD = "not paged"  # historical or too old: decided and counted, no case, no outreach (domain/paging.py)


@dataclass(frozen=True)
class Evaluation:
    """Rules that fired and the combined urgency, tier and wanted mode."""

    hits: tuple[Hit, ...]
    urgency: Urgency | None
    tier: int
    wants_group: bool
    triage: tuple[Hit, ...] = ()  # triage rules that fired (route 'triage' or 'outreach_and_triage')

    @property
    def fired(self) -> bool:
        """Whether at least one (non-modifier) rule fired."""
        return bool(self.hits)


@dataclass(frozen=True)
class Action:
    """One consequence of a decision; ``publish`` actions become OutreachRequested events."""

    kind: ActionKind
    case_id: str
    people: tuple[str, ...]
    mode: Mode
    urgency: Urgency
    tier: int
    publish: bool
    note: str = ""


@dataclass(frozen=True)
class Decision:
    """The full decision for one incident version."""

    evaluation: Evaluation
    mode: Mode
    actions: tuple[Action, ...]
    outcome: str


def evaluate(incident: Incident, ruleset: RuleSet, group: GroupPolicy) -> Evaluation:
    """Fire every matching rule; modifiers (and the group policy) only count when a trigger fired."""
    triggers: list[Hit] = []
    modifiers: list[Hit] = []
    triage: list[Hit] = []
    wants_group = False
    for rule in ruleset.rules:
        reasons = rule.when.match(incident)
        if reasons is None:
            continue
        hit = Hit(rule.id, rule.text, reasons, rule.urgency, rule.tier)
        if rule.routes_to_triage(incident):
            triage.append(hit)
        if not rule.requests_outreach(incident):
            continue
        (modifiers if rule.modifier else triggers).append(hit)
        wants_group = wants_group or rule.mode is Mode.GROUP
    if not triggers:
        return Evaluation((), None, 0, False, tuple(triage))
    policy = ruleset.group or group
    group_reasons = _group_reasons(incident, policy)
    if group_reasons:
        wants_group = True
        modifiers.append(
            Hit(
                policy.rule_id,
                policy.text,
                group_reasons,
                most_urgent([h.urgency for h in triggers]),
                max(h.tier for h in triggers),
            )
        )
    hits = tuple(triggers + modifiers)
    urgency, tier = most_urgent([h.urgency for h in hits]), max(h.tier for h in hits)
    return Evaluation(hits, urgency, tier, wants_group, tuple(triage))


def _group_reasons(incident: Incident, policy: GroupPolicy) -> tuple[str, ...]:
    n_staff, n_units = incident.head_count, len(incident.units)
    reasons = []
    if n_staff > policy.staff_more_than:
        reasons.append(f"{n_staff} staff > {policy.staff_more_than}")
    if n_units >= policy.units_at_least:
        reasons.append(f"{n_units} units >= {policy.units_at_least}")
    return tuple(reasons)


@lru_cache(maxsize=1024)
def case_id_for(incident_ref: str, mode: Mode, pseudonym: str = "") -> str:
    """Deterministic case id: one per person per incident, or one per group per incident (cached: a what-if
    decides each version under two rule sets in turn, and both open mostly the same cases)."""
    name = f"{incident_ref}|group" if mode is Mode.GROUP else f"{incident_ref}|{pseudonym}"
    return uuid5_text(_NAMESPACE_BYTES, name)


_NAMESPACE_BYTES = CASE_NAMESPACE.bytes


def decide(incident: Incident, evaluation: Evaluation, ctx: Context) -> Decision:
    """Apply versions, opt-outs, coverage by this incident's cases, merging and the group rule."""
    if _already_decided(incident, ctx.last_version):
        return Decision(evaluation, Mode.INDIVIDUAL, (), "no change: version already decided")
    routed = _triage_action(incident, evaluation)
    if not evaluation.fired or evaluation.urgency is None:
        return Decision(evaluation, Mode.INDIVIDUAL, routed, _outcome(list(routed)) if routed else "no rule fired")
    urgency, tier = evaluation.urgency, evaluation.tier
    actions: list[Action] = []
    eligible: list[Person] = []
    for p in incident.people():
        if p.pseudonym in ctx.opted_out:
            actions.append(Action(ActionKind.SUPPRESS, "", (p.pseudonym,), Mode.INDIVIDUAL, urgency, tier, False))
        else:
            eligible.append(p)
    mode = Mode.GROUP if evaluation.wants_group and len(eligible) > 1 else Mode.INDIVIDUAL
    own = [c for c in ctx.open_cases if c.covers(incident.incident_ref)]
    if mode is Mode.GROUP:
        actions.extend(_decide_group(incident, eligible, own, urgency, tier))
    else:
        actions.extend(_decide_individuals(incident, eligible, own, ctx, urgency, tier))
    actions.extend(routed)
    return Decision(evaluation, mode, tuple(actions), _outcome(actions))


def _already_decided(incident: Incident, last_version: int | None) -> bool:
    """An older or equal version was decided; a coordinator's dispatch of the decided version is decided again."""
    if last_version is None or incident.report_version > last_version:
        return False
    return not (incident.triaged and incident.report_version == last_version)


def _triage_action(incident: Incident, evaluation: Evaluation) -> tuple[Action, ...]:
    """One TRIAGE action naming everyone in the incident when a triage rule fired (none otherwise)."""
    if not evaluation.triage:
        return ()
    urgency = most_urgent([h.urgency for h in evaluation.triage])
    tier = max(h.tier for h in evaluation.triage)
    people = tuple(p.pseudonym for p in incident.people())
    note = ", ".join(h.rule_id for h in evaluation.triage)
    return (Action(ActionKind.TRIAGE, "", people, Mode.INDIVIDUAL, urgency, tier, True, note),)


def _more(urgency: Urgency, tier: int, case: OpenCase) -> bool:
    return urgency.rank > case.urgency.rank or tier > case.tier


def _escalation(case: OpenCase, urgency: Urgency, tier: int, note: str) -> Action:
    return Action(
        ActionKind.ESCALATE,
        case.case_id,
        case.people,
        case.mode,
        most_urgent([urgency, case.urgency]),
        max(tier, case.tier),
        True,
        note,
    )


def _decide_group(
    incident: Incident, eligible: list[Person], own: list[OpenCase], urgency: Urgency, tier: int
) -> list[Action]:
    names = tuple(p.pseudonym for p in eligible)
    existing = next((c for c in own if c.mode is Mode.GROUP), None)
    if existing is None:
        cid = case_id_for(incident.incident_ref, Mode.GROUP)
        return [Action(ActionKind.OPEN, cid, names, Mode.GROUP, urgency, tier, True)]
    new = tuple(n for n in names if n not in existing.people)
    if new or _more(urgency, tier, existing):
        people = existing.people + new
        return [
            Action(
                ActionKind.UPDATE,
                existing.case_id,
                people,
                Mode.GROUP,
                most_urgent([urgency, existing.urgency]),
                max(tier, existing.tier),
                True,
                f"{len(new)} added" if new else "escalated",
            )
        ]
    return [Action(ActionKind.COVERED, existing.case_id, names, Mode.GROUP, existing.urgency, existing.tier, False)]


def _decide_individuals(
    incident: Incident, eligible: list[Person], own: list[OpenCase], ctx: Context, urgency: Urgency, tier: int
) -> list[Action]:
    window = timedelta(hours=ctx.merge_window_hours)
    others = [c for c in ctx.open_cases if not c.covers(incident.incident_ref)]
    actions: list[Action] = []
    escalated: dict[str, Action] = {}
    for p in eligible:
        covering = next((c for c in own if p.pseudonym in c.people), None)
        if covering is not None:
            if _more(urgency, tier, covering):
                escalated.setdefault(covering.case_id, _escalation(covering, urgency, tier, "report amended"))
            else:
                actions.append(
                    Action(
                        ActionKind.COVERED,
                        covering.case_id,
                        (p.pseudonym,),
                        covering.mode,
                        covering.urgency,
                        covering.tier,
                        False,
                    )
                )
            continue
        recent = _merge_target(others, p.pseudonym, incident, window)
        if recent is not None:
            note = f"open case from another incident within {ctx.merge_window_hours:g} h"
            actions.append(
                Action(
                    ActionKind.MERGE,
                    recent.case_id,
                    (p.pseudonym,),
                    recent.mode,
                    recent.urgency,
                    recent.tier,
                    False,
                    note,
                )
            )
            if _more(urgency, tier, recent):
                escalated.setdefault(recent.case_id, _escalation(recent, urgency, tier, "merged incident"))
            continue
        cid = case_id_for(incident.incident_ref, Mode.INDIVIDUAL, p.pseudonym)
        actions.append(Action(ActionKind.OPEN, cid, (p.pseudonym,), Mode.INDIVIDUAL, urgency, tier, True))
    return actions + list(escalated.values())


def _merge_target(others: list[OpenCase], pseudonym: str, incident: Incident, window: timedelta) -> OpenCase | None:
    """The open case of another incident of ``pseudonym`` that occurred within ``window`` of this one (before or
    after it: reports arrive in any order), nearest in time first; None when there is none."""
    near = []
    for case in others:
        gap = case.nearest(pseudonym, incident.occurred_at)
        if gap is not None and gap <= window:
            near.append((gap, case.case_id, case))
    return min(near, key=lambda n: (n[0], n[1]))[2] if near else None


_OUTCOMES = {
    ActionKind.OPEN: "outreach requested",
    ActionKind.ESCALATE: "escalated",
    ActionKind.UPDATE: "group case updated",
    ActionKind.MERGE: "merged",
    ActionKind.SUPPRESS: "suppressed: opted out",
    ActionKind.COVERED: "no change: already covered",
    ActionKind.TRIAGE: "routed to triage",
}


def _outcome(actions: list[Action]) -> str:
    seen = list(dict.fromkeys(_OUTCOMES[a.kind] for a in actions))
    return "; ".join(seen) if seen else "no one to contact"


def with_version(ruleset: RuleSet, version: str) -> RuleSet:
    """A copy of ``ruleset`` carrying ``version``."""
    return replace(ruleset, version=version)


def overlay(base: RuleSet, override: RuleSet, disabled: frozenset[str]) -> RuleSet:
    """A facility override on top of ``base``: same ids replaced, ``disabled`` ids dropped, new ids added."""
    mine = {r.id for r in override.rules}
    kept = tuple(r for r in base.rules if r.id not in mine and r.id not in disabled)
    return RuleSet(
        version=f"{override.version}+{base.version}",
        rules=kept + override.rules,
        group=override.group or base.group,
        merge_window_hours=override.merge_window_hours or base.merge_window_hours,
    )
