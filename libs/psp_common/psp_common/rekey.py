"""Re-key stored pseudonyms to the current key, so a previous key can be retired.

Each service that stores pseudonyms has ``python -m psp_<service>.rekey`` (rules, matching, notification). Run
it with the service's environment after the rotation (new key in ``PSP_PSEUDONYM_KEY``, the previous one still
in ``PSP_PSEUDONYM_OLD_KEYS``), feeding the hospital's staff ids on standard input, one per line::

    hr-export --staff-ids | python -m psp_rules.rekey

For each staff id it computes the pseudonym under every previous key and under the current key, and rewrites
or copies the service's rows from the old pseudonym to the current one, in one transaction. The staff ids are
held in memory only (never stored, logged or printed); the command prints counts per table. Running it twice
changes nothing the second time.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from psp_common.db import make_engine
from psp_common.events.envelope import utcnow
from psp_common.pseudonym import Pseudonymizer
from psp_common.settings import ServiceSettings
from psp_common.startup import load


@dataclass(frozen=True)
class Renames:
    """Old pseudonym -> current pseudonym for every staff id given, under the current key ``key_id``."""

    current: dict[str, str]
    key_id: str


def renames(pseudo: Pseudonymizer, staff_ids: Iterable[str]) -> Renames:
    """The old -> current pseudonym map of ``staff_ids`` (blank lines skipped)."""
    out: dict[str, str] = {}
    for raw in staff_ids:
        if raw.strip():
            current, *old = pseudo.pseudonyms_of(raw)
            out.update(dict.fromkeys(old, current))
    return Renames(out, pseudo.key_id)


Apply = Callable[[AsyncSession, Renames, datetime], Awaitable[dict[str, int]]]


async def rekey(settings: ServiceSettings, staff_ids: Iterable[str], apply: Apply) -> dict[str, int]:
    """Apply ``apply`` to the service's database in one transaction; counts of rows changed per table."""
    names = renames(Pseudonymizer.from_settings(settings), staff_ids)
    if not names.current:
        return {}
    engine = make_engine(settings.database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
            return await apply(session, names, utcnow())
    finally:
        await engine.dispose()


def main(settings_cls: type[ServiceSettings], apply: Apply, stdin: TextIO | None = None) -> dict[str, int]:
    """Console entry point: settings checked as at start, staff ids from ``stdin``; prints the counts."""
    settings = load(settings_cls)
    if not settings.pseudonym_old_keys:
        print("nothing to re-key: PSP_PSEUDONYM_OLD_KEYS names no previous key", file=sys.stderr)
        return {}
    counts = asyncio.run(rekey(settings, (stdin or sys.stdin).read().splitlines(), apply))
    for table, n in sorted(counts.items()):
        print(f"{table}: {n} re-keyed")
    return counts
