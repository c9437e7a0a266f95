"""Helpers every intake format shares: JSON decoding, staff pseudonyms, references, correlation ids."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psp_common.events.vocab import Involvement, StaffRef
from psp_common.ids import uuid5_text
from psp_common.pseudonym import Pseudonymizer
from psp_listener.adapters.errors import malformed

MAX_DEPTH = 64


@dataclass(frozen=True)
class Person:
    """A staff member as read from an intake message, before pseudonymization."""

    staff_id: str
    role: str | None
    involvement: Involvement


def decode_json(body: bytes, title: str) -> Any:
    """Decode a UTF-8 JSON body or raise a json_invalid ValidationError."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError as exc:
        raise malformed(title, "body is not UTF-8") from exc
    except RecursionError as exc:
        raise malformed(title, "nesting too deep") from exc
    except ValueError as exc:
        raise malformed(title, str(exc).split(":")[0]) from exc
    if _depth(value) > MAX_DEPTH:
        raise malformed(title, "nesting too deep")
    return value


def _depth(value: Any) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def staff_refs(people: Iterable[Person], pseudo: Pseudonymizer) -> tuple[StaffRef, ...]:
    """Pseudonymize staff under the current key, with aliases under the previous keys still active.

    The first mention of a person wins.
    """
    out: dict[str, StaffRef] = {}
    for person in people:
        p, *aliases = pseudo.pseudonyms_of(person.staff_id)
        if p not in out:
            out[p] = StaffRef(
                pseudonym=p,
                key_id=pseudo.key_id,
                role=person.role,
                involvement=person.involvement,
                aliases=tuple(aliases),
            )
    return tuple(out.values())


def incident_ref(pseudo: Pseudonymizer, source_system: str, report_id: str) -> str:
    """Opaque reference of a source report."""
    return pseudo.reference("report", f"{source_system}:{report_id}")


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


def correlation_id(ref: str, version: int) -> str:
    """Correlation id shared by everything one report version causes, as text:
    ``str(uuid5(NAMESPACE_URL, f"psp:{ref}:{version}"))``. The events' UUID field parses it (in pydantic-core: about
    half the cost of building ``uuid.uuid5``'s ``UUID`` in Python)."""
    return uuid5_text(_URL_NAMESPACE, f"psp:{ref}:{version}")
