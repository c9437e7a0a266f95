"""How the rules pages read a rule set: rules as sentences, a line diff of two texts, which rules changed.

Pure functions over the rules service's JSON (documents as ``RuleSetDoc`` dumps); nothing here calls anything.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

CONDITIONS: dict[str, str] = {
    "cis_flags_any": "CIS flag is any of",
    "harm_levels_any": "Harm level is any of",
    "event_classes_any": "Event class is any of",
    "categories_any": "Category is any of",
    "patient_age_groups_any": "Patient age group is any of",
    "source_kinds_any": "Reported through",
    "huddle_calls_any": "Safety huddle is any of",
    "staff_more_than": "More staff involved than",
    "units_at_least": "Units involved, at least",
}
URGENCY = {"immediate": "Immediate", "within_hours": "Within hours", "within_days": "Within days"}
TIERS = {1: "1 · emotional first aid", 2: "2 · peer support", 3: "3 · expedited referral"}
MAX_DIFF_LINES = 2000


def words(value: str) -> str:
    """A vocabulary value as words ('within_hours' -> 'within hours')."""
    return str(value).replace("_", " ")


@dataclass(frozen=True)
class RuleRow:
    """One rule, readable."""

    id: str
    text: str
    conditions: list[str]
    urgency: str
    tier: str
    mode: str
    modifier: bool


def rule_rows(document: dict[str, Any]) -> list[RuleRow]:
    """Each rule of ``document`` with its conditions as short sentences."""
    rows = []
    for rule in document.get("rules") or []:
        when = rule.get("when") or {}
        conditions = []
        for key, label in CONDITIONS.items():
            value = when.get(key)
            if value in (None, []):
                continue
            shown = ", ".join(words(v) for v in value) if isinstance(value, list) else str(value)
            conditions.append(f"{label}: {shown}")
        rows.append(
            RuleRow(
                id=str(rule.get("id", "")),
                text=str(rule.get("text", "")),
                conditions=conditions,
                urgency=URGENCY.get(rule.get("urgency", ""), words(rule.get("urgency", ""))),
                tier=TIERS.get(rule.get("tier", 0), str(rule.get("tier", ""))),
                mode="Group" if rule.get("mode") == "group" else "Individual",
                modifier=bool(rule.get("modifier")),
            )
        )
    return rows


@dataclass(frozen=True)
class DiffLine:
    """One line of a unified diff: ``kind`` is 'add', 'del', 'hunk' or 'same'."""

    kind: str
    text: str


def line_diff(old: str, new: str, old_label: str, new_label: str) -> list[DiffLine]:
    """A unified diff (3 lines of context) of two texts, marked per line; empty when they are the same."""
    out: list[DiffLine] = []
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label, lineterm="", n=3)
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append(DiffLine(kind, line))
        if len(out) >= MAX_DIFF_LINES:
            out.append(DiffLine("hunk", f"… (cut at {MAX_DIFF_LINES} lines)"))
            break
    return out


@dataclass(frozen=True)
class RuleChanges:
    """Rule ids added, removed and changed between two documents (None: a side could not be read)."""

    added: list[str]
    removed: list[str]
    changed: list[str]
    settings_changed: list[str]

    @property
    def none(self) -> bool:
        """Nothing differs."""
        return not (self.added or self.removed or self.changed or self.settings_changed)


def rule_changes(old: dict[str, Any], new: dict[str, Any]) -> RuleChanges:
    """Which rules were added, removed or changed (by id), and which top-level settings changed."""
    before = {r.get("id"): r for r in old.get("rules") or []}
    after = {r.get("id"): r for r in new.get("rules") or []}
    keys = sorted((set(old) | set(new)) - {"rules"})
    return RuleChanges(
        added=sorted(str(i) for i in after.keys() - before.keys()),
        removed=sorted(str(i) for i in before.keys() - after.keys()),
        changed=sorted(str(i) for i in before.keys() & after.keys() if before[i] != after[i]),
        settings_changed=[k for k in keys if old.get(k) != new.get(k)],
    )
