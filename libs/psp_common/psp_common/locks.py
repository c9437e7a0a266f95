"""PostgreSQL advisory locks: serialize work on one thing across service instances sharing a database.

Transaction-scoped (``pg_advisory_xact_lock``): released when the transaction commits or rolls back, so a
crashed instance never leaves one behind. Other databases (SQLite, one writer at a time) take no lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# Keys are taken in ascending order in one statement, so two transactions locking overlapping sets wait for
# each other instead of deadlocking.
_LOCK_ALL = text(
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT unnest(:keys) AS k ORDER BY k) AS wanted"
).bindparams(bindparam("keys", type_=postgresql.ARRAY(BigInteger)))
# PostgreSQL aborted a transaction because it raced another one: serialization failure, deadlock detected (e.g.
# two instances' batches locking the same supporters in opposite orders). Nothing was stored; a retry passes.
LOST_RACE_SQLSTATES = frozenset({"40001", "40P01"})
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(bindparam("key", type_=BigInteger))


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name`` (a namespace and an id, e.g. 'rules.person:ps_x')."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _postgres(db: AsyncConnection | AsyncSession) -> bool:
    bind = db.bind if isinstance(db, AsyncSession) else db
    return bind is not None and bind.dialect.name == "postgresql"


async def lock_all(db: AsyncConnection | AsyncSession, names: Iterable[str]) -> None:
    """Wait for the transaction-scoped locks of every name (ascending key order); no-op off PostgreSQL."""
    keys = sorted({lock_key(n) for n in names})
    if keys and _postgres(db):
        await db.execute(_LOCK_ALL, {"keys": keys})


async def try_lock(db: AsyncConnection | AsyncSession, name: str) -> bool:
    """Take the transaction-scoped lock of ``name`` if free; False when another transaction holds it.

    Always True off PostgreSQL.
    """
    if not _postgres(db):
        return True
    return bool((await db.execute(_TRY_LOCK, {"key": lock_key(name)})).scalar_one())


def lost_race(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL aborting the transaction for a deadlock or serialization failure."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in LOST_RACE_SQLSTATES
