"""Rule set drafts: validation (with lines), how a scope's rules fit, and the rule set a draft would make."""

from __future__ import annotations

from psp_rules.adapters.repository import RuleSetRepository
from psp_rules.adapters.ruleset_check import Problem, check, locate
from psp_rules.adapters.ruleset_schema import RuleSetDoc
from psp_rules.domain.engine import overlay
from psp_rules.domain.model import RuleSet
from psp_rules.handlers import DEFAULT_SCOPE, RulesConfig, effective_ruleset


class DraftNotApplicable(ValueError):
    """A facility's draft cannot decide an incident of another facility."""


async def scope_problem(repo: RuleSetRepository, scope: str, doc: RuleSetDoc, packaged: RuleSetDoc) -> Problem | None:
    """Why ``doc`` cannot be ``scope``'s rule set (extends/disable misuse, unknown default ids), or None."""
    if scope == DEFAULT_SCOPE and (doc.extends_default or doc.disable):
        return Problem("extends_default", "the default rule set cannot extend or disable itself")
    if doc.disable and not doc.extends_default:
        return Problem("disable", "only meaningful with extends_default: true")
    if doc.disable:
        stored = await repo.latest(DEFAULT_SCOPE)
        base = RuleSetDoc.model_validate(stored.document) if stored else packaged
        unknown = sorted(set(doc.disable) - {r.id for r in base.rules})
        if unknown:
            return Problem("disable", f"unknown default rule ids: {', '.join(unknown)}")
    return None


async def validate(
    repo: RuleSetRepository, scope: str, text: str, cfg: RulesConfig
) -> tuple[RuleSetDoc | None, list[Problem]]:
    """The document ``text`` makes for ``scope``, or None and every problem (field, reason, line)."""
    doc, problems = check(text)
    if doc is None:
        return None, problems
    problem = await scope_problem(repo, scope, doc, cfg.default_doc)
    if problem is not None:
        return None, [Problem(problem.field, problem.reason, locate(text, [problem.field]))]
    return doc, []


async def draft_ruleset(
    repo: RuleSetRepository, facility: str, cfg: RulesConfig, scope: str, doc: RuleSetDoc
) -> RuleSet:
    """The rule set that would decide an incident at ``facility`` if ``doc`` (the draft of ``scope``) were published."""
    label = f"{scope}:draft"
    if scope == DEFAULT_SCOPE:
        default = doc.to_domain(label)
        newest = await repo.newest((facility,)) if facility != DEFAULT_SCOPE else {}
        if facility not in newest:
            return default
        odoc, mine = await cfg.cache.get(repo, facility, newest[facility])
        return overlay(default, mine, frozenset(odoc.disable)) if odoc.extends_default else mine
    if facility != scope:
        raise DraftNotApplicable(f"the draft is for facility {scope}; give the sample that facility")
    mine = doc.to_domain(label)
    if not doc.extends_default:
        return mine
    return overlay(await effective_ruleset(repo, DEFAULT_SCOPE, cfg, seed=None), mine, frozenset(doc.disable))
