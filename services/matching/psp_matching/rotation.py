"""Key rotation: a case stored under previous-key pseudonyms is read under the names the event uses now."""

from __future__ import annotations

from typing import Any

from psp_common.events.outreach import OutreachRequested


def merged_aliases(stored: dict[str, list[str]] | None, event: OutreachRequested) -> dict[str, list[str]]:
    """Each person's pseudonyms under previous keys: what the case had plus what the event names."""
    out = {k: list(v) for k, v in (stored or {}).items()}
    for p in event.people:
        if p.aliases:
            out[p.pseudonym] = list(dict.fromkeys([*out.get(p.pseudonym, ()), *p.aliases]))
    return out


def as_current(stored: dict[str, Any] | None, event: OutreachRequested) -> dict[str, Any] | None:
    """The stored case with people the event names under an alias renamed to the event's pseudonym.

    Without it a person stored before a rotation and named again after it would count twice (and look like a
    new person joining the case).
    """
    if stored is None:
        return None
    return renamed(stored, {a: p.pseudonym for p in event.people for a in p.aliases})


def renamed(stored: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    """A case row with its people renamed by ``rename`` (old -> current), the old names kept as aliases."""
    hit = rename.keys() & set(stored["people"])
    if not hit:
        return stored
    aliases = {rename.get(k, k): list(v) for k, v in (stored.get("aliases") or {}).items()}
    for old in hit:
        aliases[rename[old]] = list(dict.fromkeys([*aliases.get(rename[old], ()), old]))
    return {
        **stored,
        "people": sorted({rename.get(n, n) for n in stored["people"]}),
        "roles": {rename.get(k, k): v for k, v in stored["roles"].items()},
        "aliases": aliases,
    }
