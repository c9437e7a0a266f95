"""Count the SQL statements a piece of code sends, to prove batch handling is set-based (a constant number of
statements per consumed batch, whatever its size)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class Statements:
    """Statements seen, in order, and counted by their first words (e.g. ``INSERT INTO pages``)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __len__(self) -> int:
        return len(self.seen)

    def kinds(self) -> Counter[str]:
        """How many of each kind: verb and table (``SELECT ... FROM t`` counts as ``SELECT t``)."""
        return Counter(_kind(s) for s in self.seen)


def _kind(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else ""
    upper = [w.upper() for w in words]
    if verb == "UPDATE" and len(words) > 1:  # its table, not that of a FROM or a subquery after it
        return f"UPDATE {words[1]}"
    for marker in ("INTO", "FROM", "UPDATE"):
        if marker in upper:
            i = upper.index(marker)
            if marker == "UPDATE":
                return f"UPDATE {words[i + 1]}" if i + 1 < len(words) else verb
            return f"{verb} {words[i + 1]}" if i + 1 < len(words) else verb
    return verb


@contextmanager
def counting(engine: AsyncEngine, *, skip_transaction_control: bool = True) -> Iterator[Statements]:
    """Record every statement sent through ``engine`` inside the block (BEGIN/COMMIT/SAVEPOINT left out)."""
    seen = Statements()

    def record(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        first = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if skip_transaction_control and first in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}:
            return
        seen.seen.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
