"""Key rotation: a case stored under previous-key pseudonyms is read under the names used now (see rekey)."""

from __future__ import annotations

from typing import Any

from psp_matching.domain.cases import renamed_people


def renamed(stored: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    """A case row with its people renamed by ``rename`` (old -> current), the old names kept as aliases."""
    people, roles, aliases = renamed_people(stored["people"], stored["roles"], stored.get("aliases") or {}, rename)
    if people is stored["people"]:
        return stored
    return {**stored, "people": people, "roles": roles, "aliases": aliases}
