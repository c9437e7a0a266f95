"""JSON text for the database's JSON columns, written by pydantic-core instead of the standard library.

SQLAlchemy serializes every JSON column value (decision logs, rosters, outbox headers, ...) with ``json.dumps``
unless the engine names another serializer; ``json.dumps`` is pure Python for containers and costs several
microseconds per row. ``dumps`` writes the same values (the same JSON once parsed: compact separators, UTF-8 text
rather than ``\\uXXXX`` escapes) about four times faster. Only the database sees this text; no event payload on
the bus is written here (those are the event models' own ``model_dump_json``).
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json


def dumps(value: Any) -> str:
    """``value`` (dicts, lists, strings, numbers, booleans, None) as JSON text."""
    return to_json(value).decode()
