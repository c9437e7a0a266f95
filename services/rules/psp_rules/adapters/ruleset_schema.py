"""YAML/JSON schema of a rule set (pydantic), validated on load and turned into domain dataclasses."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from psp_common.events.intake import SourceKind
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel, SupportMode, Urgency
from psp_rules.domain import model as m

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "rulesets" / "default.yaml"
SCOPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Bounds, so validating a hostile document costs little and fails naming the field.
MAX_DOCUMENT_CHARS = 256 * 1024
MAX_DEPTH = 16  # nesting of mappings and lists (a rule set needs 5)
MAX_RULES = 200
MAX_VALUES = 100  # entries in any condition list
RULE_ID = r"^[a-z0-9][a-z0-9_.-]{1,63}$"
RuleId = Annotated[str, StringConstraints(pattern=RULE_ID)]
Category = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _values(description: str) -> Any:
    return Field(default_factory=list, max_length=MAX_VALUES, description=description)


class Strict(BaseModel):
    """Rejects unknown keys so a typo in a rule set is an error, not a silently ignored condition."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WhenDoc(Strict):
    """Conditions of a rule: all given ones must hold; each list matches on any of its values."""

    cis_flags_any: list[CisTrigger] = _values("Any of these CIS flags present.")
    harm_levels_any: list[HarmLevel] = _values("Harm level is one of these.")
    event_classes_any: list[EventClass] = _values("Event class is one of these.")
    categories_any: list[Category] = _values("Event category is one of these.")
    patient_age_groups_any: list[Literal["neonate", "child", "adult", "unknown"]] = _values(
        "Patient age group is one of these."
    )
    source_kinds_any: list[SourceKind] = _values("Intake kind is one of these.")
    huddle_calls_any: list[Literal["morning", "evening", "ad_hoc"]] = _values("Safety huddle is one of these.")
    staff_more_than: int | None = Field(None, ge=0, le=10_000, description="More than this many staff involved.")
    units_at_least: int | None = Field(None, ge=1, le=1_000, description="At least this many units involved.")

    @model_validator(mode="after")
    def _not_empty(self) -> WhenDoc:
        if not any(getattr(self, name) not in (None, []) for name in type(self).model_fields):
            raise ValueError("a rule needs at least one condition (an empty 'when' would fire on everything)")
        return self


class RuleDoc(Strict):
    """One rule."""

    id: str = Field(pattern=RULE_ID, description="Stable rule id (lowercase, -, _, .).")
    text: str = Field(min_length=3, max_length=300, description="Human explanation shown when it fires.")
    when: WhenDoc = Field(description="Conditions.")
    urgency: Urgency = Field(description="immediate, within_hours or within_days.")
    tier: Literal[1, 2, 3] = Field(description="1 emotional first aid, 2 peer support, 3 expedited referral.")
    mode: SupportMode | None = Field(None, description="Mode hint: 'group' asks for a group intervention.")
    modifier: bool = Field(False, description="Only counts when another (non-modifier) rule fired.")
    route: Literal["outreach", "triage", "outreach_and_triage"] = Field(
        "outreach",
        description="outreach (default): request outreach. triage: send the incident to the coordinator's triage "
        "queue instead (psp.rules.triage-requested.v1); once the coordinator dispatches it, the rule requests "
        "outreach like any other. outreach_and_triage: both at once (e.g. to have someone attach more people).",
    )

    @model_validator(mode="after")
    def _triage_is_a_trigger(self) -> RuleDoc:
        if self.modifier and self.route != "outreach":
            raise ValueError("route: a modifier only adjusts a decision other rules made; it cannot route to triage")
        return self


class GroupDoc(Strict):
    """Group intervention thresholds."""

    staff_more_than: int = Field(ge=1, le=10_000, description="More than this many staff -> group intervention.")
    units_at_least: int = Field(ge=2, le=1_000, description="This many units -> group intervention.")


class RuleSetDoc(Strict):
    """A rule set file."""

    name: str = Field(min_length=1, max_length=100, description="Name of the rule set.")
    description: str | None = Field(None, max_length=2000, description="What the rule set is for.")
    extends_default: bool = Field(False, description="Facility override: start from the default rule set.")
    disable: list[RuleId] = Field(
        default_factory=list, max_length=MAX_RULES, description="Default rule ids switched off (with extends)."
    )
    group: GroupDoc | None = Field(None, description="Group thresholds; settings defaults when absent.")
    merge_window_hours: float | None = Field(None, gt=0, le=24 * 90, description="Merge window override.")
    rules: list[RuleDoc] = Field(min_length=1, max_length=MAX_RULES, description="The rules.")

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[RuleDoc]) -> list[RuleDoc]:
        dupes = sorted(i for i, n in Counter(r.id for r in rules).items() if n > 1)
        if dupes:
            raise ValueError(f"duplicate rule ids: {', '.join(dupes[:10])}")
        return rules

    def to_domain(self, version: str) -> m.RuleSet:
        """The validated document as a domain rule set."""
        return m.RuleSet(
            version=version,
            rules=tuple(_rule(r) for r in self.rules),
            group=m.GroupPolicy(self.group.staff_more_than, self.group.units_at_least) if self.group else None,
            merge_window_hours=self.merge_window_hours,
        )


def _rule(r: RuleDoc) -> m.Rule:
    w = r.when
    when = m.Conditions(
        cis_flags_any=frozenset(f.value for f in w.cis_flags_any),
        harm_levels_any=frozenset(h.value for h in w.harm_levels_any),
        event_classes_any=frozenset(e.value for e in w.event_classes_any),
        categories_any=frozenset(w.categories_any),
        patient_age_groups_any=frozenset(w.patient_age_groups_any),
        source_kinds_any=frozenset(s.value for s in w.source_kinds_any),
        huddle_calls_any=frozenset(w.huddle_calls_any),
        staff_more_than=w.staff_more_than,
        units_at_least=w.units_at_least,
    )
    mode = m.Mode(r.mode.value) if r.mode else None
    return m.Rule(r.id, r.text, when, m.Urgency(r.urgency.value), r.tier, mode, r.modifier, m.Route(r.route))


class BadDocument(ValueError):
    """The body is not parseable YAML/JSON or not a mapping."""


def parse_text(text: str) -> dict[str, Any]:
    """Parse YAML (JSON is YAML) into a mapping; refuse a document too large or nested too deep."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise BadDocument(f"larger than {MAX_DOCUMENT_CHARS} characters")
    try:
        _check_depth(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadDocument(f"not valid YAML or JSON{where}") from exc
    if not isinstance(data, dict):
        raise BadDocument("a rule set must be a mapping")
    return data


def _check_depth(text: str) -> None:
    """Walk the YAML events (PyYAML's parser is iterative; building the nodes recurses once per level)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise BadDocument(f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_text(text: str) -> RuleSetDoc:
    """Parse and validate a rule set document (raises BadDocument or pydantic ValidationError)."""
    return RuleSetDoc.model_validate(parse_text(text))


def load_file(path: Path | str | None = None) -> RuleSetDoc:
    """Load and validate a rule set file (the packaged default when ``path`` is None)."""
    return load_text(Path(path or DEFAULT_FILE).read_text(encoding="utf-8"))


def valid_scope(scope: str) -> bool:
    """'default' or a facility code."""
    return bool(SCOPE.match(scope))
