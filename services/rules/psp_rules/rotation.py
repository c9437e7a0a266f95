"""Key rotation: people named by their current pseudonym still match state stored under a previous key.

The listener puts, for each person, the pseudonym under the current key and ``aliases`` under every previous
key still active (``PSP_PSEUDONYM_OLD_KEYS``). Rules looks opt-outs and open cases up under all of them, shows
the engine everything under the current pseudonym, and, when it writes, re-keys what it found: case members move
to the current pseudonym and opt-outs are copied to it. After that the old key is no longer needed for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from psp_rules.adapters.repository import CaseRepository, OptOutRepository
from psp_rules.domain.model import OpenCase, Person


def lookup_names(people: Iterable[Person]) -> list[str]:
    """Every pseudonym to look stored state up under: each person's current one and aliases."""
    return list(dict.fromkeys(n for p in people for n in p.names))


def _current_of(people: Iterable[Person]) -> dict[str, str]:
    return {a: p.pseudonym for p in people for a in p.aliases}


def opted_out_now(found: frozenset[str], people: Iterable[Person]) -> frozenset[str]:
    """Current pseudonyms of the people opted out under any of their names."""
    return frozenset(p.pseudonym for p in people if found.intersection(p.names))


def as_current(open_cases: tuple[OpenCase, ...], people: Iterable[Person]) -> tuple[OpenCase, ...]:
    """Open cases with members stored under an alias named by the current pseudonym instead."""
    current = _current_of(people)
    if not current:
        return open_cases
    return tuple(_renamed(c, current) for c in open_cases)


def _renamed(case: OpenCase, current: dict[str, str]) -> OpenCase:
    occurred: dict[str, tuple[datetime, ...]] = {}
    for name, times in case.occurred.items():  # the merge window finds their incidents under the current name
        new = current.get(name, name)
        occurred[new] = occurred.get(new, ()) + times
    people = tuple(dict.fromkeys(current.get(n, n) for n in case.people))
    return dataclasses.replace(case, people=people, occurred=occurred)


async def relink(session: AsyncSession, people: Iterable[Person], now: datetime) -> None:
    """Re-key case members and copy opt-outs stored under an alias to the current pseudonym."""
    people = [p for p in people if p.aliases]
    if not people:
        return
    members = {a: (p.pseudonym, p.key_id, p.aliases) for p in people for a in p.aliases}
    await CaseRepository(session).relink(members)
    await OptOutRepository(session).link(_current_of(people), now)
