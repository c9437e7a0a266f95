"""Rules configuration: settings defaults, the packaged default rule set, and which stored rule set applies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from psp_rules.adapters.repository import RuleSetRepository
from psp_rules.adapters.ruleset_schema import RuleSetDoc
from psp_rules.domain.engine import overlay
from psp_rules.domain.model import GroupPolicy, RuleSet
from psp_rules.settings import RulesSettings

DEFAULT_SCOPE = "default"


@dataclass(frozen=True)
class RulesConfig:
    """Defaults the handlers fall back on: settings thresholds and the packaged default rule set."""

    group: GroupPolicy
    merge_window_hours: float
    default_doc: RuleSetDoc
    default_source: str = ""  # the packaged default's text, as the console shows it
    outreach_max_age_days: float | None = None  # older incidents are decided and counted, never paged
    cache: RuleSetCache = field(default_factory=lambda: RuleSetCache(), compare=False)

    @classmethod
    def from_settings(cls, settings: RulesSettings, default_doc: RuleSetDoc, default_source: str = "") -> RulesConfig:
        """Build from settings."""
        group = GroupPolicy(settings.group_staff_more_than, settings.group_units_at_least)
        return cls(group, settings.merge_window_hours, default_doc, default_source, settings.outreach_max_age_days)


class RuleSetCache:
    """Parsed rule sets by (scope, version): stored versions never change, so a version is parsed once."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, int], tuple[RuleSetDoc, RuleSet]] = {}

    async def get(self, repo: RuleSetRepository, scope: str, version: int) -> tuple[RuleSetDoc, RuleSet]:
        """The document and domain rule set of one stored version (read and validated on first use)."""
        key = (scope, version)
        if key not in self._parsed:
            stored = await repo.get(scope, version)
            if stored is None:
                raise LookupError(f"rule set {scope}:{version} vanished")
            doc = RuleSetDoc.model_validate(stored.document)
            if len(self._parsed) > 256:
                self._parsed.clear()
            self._parsed[key] = (doc, doc.to_domain(stored.label))
        return self._parsed[key]


async def effective_ruleset(
    repo: RuleSetRepository, facility: str, cfg: RulesConfig, *, seed: datetime | None
) -> RuleSet:
    """The facility override (on top of the default when it extends it) or the default rule set.

    With ``seed`` (the time to store it at) the packaged default is stored as version 1 when the database has
    none yet. One query per call finds the newest versions; parsed versions come from ``cfg.cache``.
    """
    return (await effective_rulesets(repo, (facility,), cfg, seed=seed))[facility]


async def effective_rulesets(
    repo: RuleSetRepository, facilities: Iterable[str], cfg: RulesConfig, *, seed: datetime | None
) -> dict[str, RuleSet]:
    """``effective_ruleset`` of each of ``facilities``, with one query for the newest versions of them all."""
    wanted = list(dict.fromkeys(facilities))
    newest = await repo.newest(tuple(dict.fromkeys((DEFAULT_SCOPE, *wanted))))
    if DEFAULT_SCOPE in newest:
        default = (await cfg.cache.get(repo, DEFAULT_SCOPE, newest[DEFAULT_SCOPE]))[1]
    elif seed is not None:
        stored = await repo.add(
            DEFAULT_SCOPE, cfg.default_doc.model_dump(mode="json"), cfg.default_source or "packaged default", seed
        )
        default = cfg.default_doc.to_domain(stored.label)
    else:
        default = cfg.default_doc.to_domain(f"{DEFAULT_SCOPE}:packaged")
    out: dict[str, RuleSet] = {}
    for facility in wanted:
        if facility not in newest or facility == DEFAULT_SCOPE:
            out[facility] = default
            continue
        odoc, mine = await cfg.cache.get(repo, facility, newest[facility])
        out[facility] = overlay(default, mine, frozenset(odoc.disable)) if odoc.extends_default else mine
    return out
