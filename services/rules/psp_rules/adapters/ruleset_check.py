"""Validate a rule set text and say where each problem is: the field's path and its line in the text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from pydantic import ValidationError

from psp_common.field_names import dotted
from psp_rules.adapters.ruleset_schema import BadDocument, RuleSetDoc, parse_text


@dataclass(frozen=True)
class Problem:
    """One reason a rule set does not validate."""

    field: str  # dotted path, e.g. 'rules.3.when.harm_levels_any.0' ('body' for the whole text; an unknown
    # key reads '<extra field>' as in every 422, and its line says where it is)
    reason: str
    line: int | None = None  # 1-based line of the text, when it can be located


def check(text: str) -> tuple[RuleSetDoc | None, list[Problem]]:
    """The validated document, or None and every problem found (each with its line when known)."""
    try:
        data = parse_text(text)
    except BadDocument as exc:
        return None, [Problem("body", str(exc), _line_of(str(exc)))]
    try:
        return RuleSetDoc.model_validate(data), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        return None, [Problem(dotted(e) or "body", e["msg"], locate(text, e["loc"])) for e in errors[:50]]


def _line_of(reason: str) -> int | None:
    marker = " at line "
    if marker in reason:
        tail = reason.rsplit(marker, 1)[1]
        return int(tail) if tail.isdigit() else None
    return None


def locate(text: str, path: Sequence[int | str]) -> int | None:
    """The 1-based line of the node at ``path`` (the deepest existing ancestor when the key is missing)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _child(node: yaml.Node, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return key if isinstance(value, yaml.ScalarNode) and value.value == "" else value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None
