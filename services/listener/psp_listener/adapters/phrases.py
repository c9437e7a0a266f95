"""Phrase rules: derive CIS triggers from free text before the narrative is dropped."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from psp_common.events.vocab import CisTrigger

AgeGroup = str
CHILD_WORDS = r"\b(child|children|infant|baby|babies|newborn|neonat\w*|toddler|kid|paediatric|pediatric|boy|girl)\b"


class PhraseRule(BaseModel):
    """All ``patterns`` (case-insensitive regexes) match, and the age-group condition holds -> ``trigger``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    patterns: tuple[str, ...] = Field(min_length=1, description="Regexes that must all match the text.")
    trigger: CisTrigger = Field(description="CIS trigger flagged when the rule matches.")
    age_groups: tuple[str, ...] = Field(
        (), description="If set, the patient age group must be one of these for the rule to match."
    )

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from exc
        return value

    @cached_property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        """The patterns, compiled case-insensitively."""
        return tuple(re.compile(p, re.IGNORECASE) for p in self.patterns)

    def matches(self, text: str, age_group: str | None) -> bool:
        """Whether the rule fires on ``text`` for a patient of ``age_group``."""
        if self.age_groups and age_group not in self.age_groups:
            return False
        return all(p.search(text) for p in self.compiled)


def _rule(trigger: CisTrigger, *patterns: str, age_groups: tuple[str, ...] = ()) -> PhraseRule:
    return PhraseRule(patterns=patterns, trigger=trigger, age_groups=age_groups)


CODE = r"\b(code blue|cardiac arrest|resuscitat\w*|cpr)\b"
DEFAULT_RULES: tuple[PhraseRule, ...] = (
    _rule(CisTrigger.SIGNIFICANT_EVENT_INVOLVING_CHILD, CODE, CHILD_WORDS),
    _rule(CisTrigger.SIGNIFICANT_EVENT_INVOLVING_CHILD, CODE, age_groups=("child", "neonate")),
    _rule(CisTrigger.ASSAULT_HARASSMENT_OR_VIOLENCE, r"\b(assault\w*|attack\w*|punch\w*|harass\w*|violen\w*)"),
    _rule(CisTrigger.THREAT_TO_STAFF_SAFETY, r"\b(weapon|knife|gun|threaten\w*|code white)\b"),
    _rule(CisTrigger.SUICIDE_OF_COLLEAGUE, r"\bsuicid\w*", r"\b(colleague|co-?worker|staff member|our nurse)\b"),
    _rule(CisTrigger.DISASTER_OR_MULTI_CASUALTY, r"\b(mass casualt\w*|multiple casualties|code orange)\b"),
    _rule(CisTrigger.EXCESSIVE_MEDIA_INTEREST, r"\b(media|reporters?|journalists?|news crew)\b"),
    _rule(CisTrigger.NAMED_IN_COMPLAINT_OR_LAWSUIT, r"\b(lawsuit|sued|legal action|formal complaint)\b"),
    _rule(CisTrigger.SERIOUS_ON_THE_JOB_INJURY, r"\b(staff|nurse|physician|employee)\b.{0,40}\binjur\w*"),
    _rule(CisTrigger.WORK_ON_RELATIVES_OR_KNOWN_VICTIMS, r"\b(relative|family member) of (a |our )?(staff|nurse)"),
    _rule(CisTrigger.UNEXPECTED_PATIENT_DEATH, r"\b(unexpected(ly)? (death|died)|died unexpectedly)\b"),
)

_RULES = TypeAdapter(list[PhraseRule])


def load_rules(path: Path) -> list[PhraseRule]:
    """Read phrase rules from a YAML list of ``{patterns|pattern, trigger, age_groups}`` mappings."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if isinstance(data, dict):
        data = data.get("rules", [])
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and "pattern" in item:
                item["patterns"] = [item.pop("pattern")]
    return _RULES.validate_python(data)


# Patterns that cannot be joined into one alternation unchanged: backreferences (group numbers shift), named
# backreferences, conditionals on a group, and global inline flags (allowed only at the start of a whole expression).
_NOT_JOINABLE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(|\(\?[aiLmsux]+\)")


def any_of(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive expression that matches where any of ``patterns`` would (None if they cannot be
    joined): a text it does not match fires no rule, in one scan instead of one per pattern."""
    unique = list(dict.fromkeys(patterns))
    if not unique or any(_NOT_JOINABLE.search(p) for p in unique):
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in unique), re.IGNORECASE)
    except re.error:
        return None


class PhraseMatcher:
    """Applies a rule set to the free-text parts of a report."""

    def __init__(self, rules: Sequence[PhraseRule]) -> None:
        self.rules = tuple(rules)
        self.any = any_of(p for r in self.rules for p in r.patterns)

    def flags(self, texts: Iterable[str | None], age_group: str | None = None) -> tuple[CisTrigger, ...]:
        """CIS triggers fired by any of ``texts`` (in rule order, no repeats)."""
        text = "\n".join(t for t in texts if t)
        if not text or (self.any is not None and self.any.search(text) is None):  # most texts fire nothing
            return ()
        return tuple(dict.fromkeys(r.trigger for r in self.rules if r.matches(text, age_group)))
