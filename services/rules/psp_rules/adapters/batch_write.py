"""What a consumed batch changed, written at once: new cases, new members, raised cases, decisions and facts.

PostgreSQL gets one statement for all of it, whatever the batch size: each table's rows travel as one array per
column and are unnested by data-modifying CTEs (an executemany per table cost a round trip per table and a
parameter set per row). Other databases (SQLite in tests) get one executemany per table, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common import json_text
from psp_common.db import dialect_of
from psp_rules.adapters.facts import FactRepository
from psp_rules.adapters.repository import CaseRepository

_DUMPS: Callable[[Any], str] = json_text.dumps  # as the engine's JSON columns store values (None as JSON null)

# (column, array type, is JSON) per table, in the order the statement names them.
_CASES = [
    ("case_id", "varchar"), ("incident_ref", "varchar"), ("facility", "varchar"), ("unit", "varchar"),
    ("mode", "varchar"), ("urgency", "varchar"), ("tier", "integer"), ("opened_at", "timestamptz"),
    ("updated_at", "timestamptz"), ("occurred_at", "timestamptz"),
]  # fmt: skip
_MEMBERS = [
    ("case_id", "varchar"), ("pseudonym", "varchar"), ("incident_ref", "varchar"), ("key_id", "varchar"),
    ("role", "varchar"), ("involvement", "varchar"), ("how", "varchar"), ("joined_at", "timestamptz"),
    ("occurred_at", "timestamptz"), ("aliases", "json"),
]  # fmt: skip
_RAISED = [("case_id", "varchar"), ("urgency", "varchar"), ("tier", "integer"), ("updated_at", "timestamptz")]
_DECISIONS = [
    ("incident_ref", "varchar"), ("report_version", "integer"), ("event_id", "varchar"), ("facility", "varchar"),
    ("unit", "varchar"), ("ruleset_version", "varchar"), ("fired", "json"), ("urgency", "varchar"),
    ("tier", "integer"), ("mode", "varchar"), ("outcome", "varchar"), ("detail", "json"),
    ("decided_at", "timestamptz"),
]  # fmt: skip
_FACTS = [
    ("incident_ref", "varchar"), ("report_version", "integer"), ("facility", "varchar"), ("unit", "varchar"),
    ("source_kind", "varchar"), ("event_class", "varchar"), ("category", "varchar"), ("harm_level", "varchar"),
    ("patient_age_group", "varchar"), ("huddle_call", "varchar"), ("cis_flags", "varchar"),
    ("team_size", "integer"), ("people", "json"), ("occurred_at", "timestamptz"), ("recorded_at", "timestamptz"),
]  # fmt: skip
_TABLES = {"c": _CASES, "m": _MEMBERS, "r": _RAISED, "d": _DECISIONS, "f": _FACTS}


def _unnest(prefix: str, columns: list[tuple[str, str]], ordered: bool = False) -> str:
    """``unnest(...) AS u(...)`` over the parameters ``<prefix>_<column>`` (JSON travels as text)."""
    arrays = ", ".join(f"CAST(:{prefix}_{c} AS {'text' if t == 'json' else t}[])" for c, t in columns)
    names = ", ".join(c for c, _ in columns)
    return f"unnest({arrays}) {'WITH ORDINALITY ' if ordered else ''}AS u({names}{', n' if ordered else ''})"


def _values(columns: list[tuple[str, str]]) -> str:
    return ", ".join(f"CAST(u.{c} AS json)" if t == "json" else f"u.{c}" for c, t in columns)


def _names(columns: list[tuple[str, str]]) -> str:
    return ", ".join(c for c, _ in columns)


_WRITE = text(
    f"WITH new_cases AS (INSERT INTO cases ({_names(_CASES)}, status) "  # noqa: S608 (built from constants)
    f"SELECT {_values(_CASES)}, 'open' FROM {_unnest('c', _CASES)}), "
    f"new_members AS (INSERT INTO case_members ({_names(_MEMBERS)}) "
    f"SELECT {_values(_MEMBERS)} FROM {_unnest('m', _MEMBERS)}), "
    "raised AS (UPDATE cases SET urgency = u.urgency, tier = u.tier, updated_at = u.updated_at "
    f"FROM {_unnest('r', _RAISED)} WHERE cases.case_id = u.case_id), "
    f"logged AS (INSERT INTO decisions ({_names(_DECISIONS)}) "
    f"SELECT {_values(_DECISIONS)} FROM {_unnest('d', _DECISIONS, ordered=True)} ORDER BY u.n) "
    f"INSERT INTO incident_facts ({_names(_FACTS)}) "
    f"SELECT {_values(_FACTS)} FROM {_unnest('f', _FACTS, ordered=True)} ORDER BY u.n"
)


@dataclass
class BatchWrite:
    """Rows a batch writes, per table (dicts keyed by column)."""

    cases: list[dict[str, Any]] = field(default_factory=list)  # new, with their final values
    members: list[dict[str, Any]] = field(default_factory=list)
    raised: list[dict[str, Any]] = field(default_factory=list)  # case_id, urgency, tier, updated_at
    decisions: list[dict[str, Any]] = field(default_factory=list)  # in decision order (ids follow it)
    facts: list[dict[str, Any]] = field(default_factory=list)  # in decision order

    def _tables(self) -> dict[str, Sequence[dict[str, Any]]]:
        return {"c": self.cases, "m": self.members, "r": self.raised, "d": self.decisions, "f": self.facts}

    def params(self) -> dict[str, list[Any]]:
        """One array per column of every table (``<table letter>_<column>``)."""
        out: dict[str, list[Any]] = {}
        for prefix, rows in self._tables().items():
            for column, kind in _TABLES[prefix]:
                values = [r[column] for r in rows]
                out[f"{prefix}_{column}"] = [_DUMPS(v) for v in values] if kind == "json" else values
        return out

    async def write(self, session: AsyncSession) -> None:
        """Write every row: one statement on PostgreSQL, one per table elsewhere; nothing when there is none."""
        if not any(self._tables().values()):
            return
        if dialect_of(session) == "postgresql":
            await self.write_at_once(session)
        else:
            await self.write_each(session)

    async def write_at_once(self, session: AsyncSession) -> None:
        """PostgreSQL: every table in one statement (arrays unnested by data-modifying CTEs)."""
        await session.execute(_WRITE, self.params())

    async def write_each(self, session: AsyncSession) -> None:
        """Any database: one executemany per table."""
        repo = CaseRepository(session)
        await repo.open_many(self.cases)
        await repo.add_members(self.members)
        await repo.raise_many([(r["case_id"], r["urgency"], r["tier"], r["updated_at"]) for r in self.raised])
        await repo.record_many(self.decisions)
        await FactRepository(session).add_many(self.facts)
