"""Repositories of the rules service (SQLAlchemy Core on the unit of work's session)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, dialect_of, insert_or_skip
from psp_common.locks import lock_all
from psp_rules.adapters.lookups import EXPANDING, lookups_for
from psp_rules.adapters.orm import case_members, cases, decisions, opt_outs, rulesets

ALL_SCOPE = "all"
NEWEST_MEMO = "psp.rules.newest_rulesets"


@dataclass(frozen=True)
class StoredRuleSet:
    """One stored version of a rule set document."""

    scope: str
    version: int
    document: dict[str, Any]
    created_at: datetime
    source: str = ""  # the text it was stored from (YAML or JSON)

    @property
    def label(self) -> str:
        """Version label carried on events, e.g. 'default:3'."""
        return f"{self.scope}:{self.version}"


@dataclass(frozen=True)
class Member:
    """A person in a case, with what the bus needs to name them."""

    pseudonym: str
    key_id: str
    role: str | None
    involvement: str
    aliases: tuple[str, ...] = ()


def distinct_members(rows: Iterable[Mapping[Any, Any]]) -> list[Member]:
    """One Member per pseudonym, in the order the member rows come (first row wins)."""
    seen: dict[str, Member] = {}
    for r in rows:
        aliases = tuple(r.get("aliases") or ())
        seen.setdefault(r["pseudonym"], Member(r["pseudonym"], r["key_id"], r["role"], r["involvement"], aliases))
    return list(seen.values())


# Hot statements, built once (building one per call costs about as much as executing it); reads: ``lookups``.
OPEN_CASES = EXPANDING.open_cases
RAISE = (
    update(cases)
    .where(cases.c.case_id == bindparam("b_case_id"))
    .values(urgency=bindparam("b_urgency"), tier=bindparam("b_tier"), updated_at=bindparam("b_at"))
)
CLOSE = (
    update(cases)
    .where(cases.c.case_id == bindparam("b_case_id"), cases.c.status == "open")
    .values(status="closed", updated_at=bindparam("b_at"))
)


class RuleSetRepository:
    """Versioned rule set documents per scope ('default' or a facility code)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest(self, scope: str) -> StoredRuleSet | None:
        """The newest version of ``scope``."""
        q = select(rulesets).where(rulesets.c.scope == scope).order_by(rulesets.c.version.desc()).limit(1)
        row = (await self.session.execute(q)).first()
        return _stored(row) if row else None

    async def get(self, scope: str, version: int) -> StoredRuleSet | None:
        """One specific version."""
        q = select(rulesets).where(rulesets.c.scope == scope, rulesets.c.version == version)
        row = (await self.session.execute(q)).first()
        return _stored(row) if row else None

    async def newest(self, scopes: tuple[str, ...]) -> dict[str, int]:
        """The newest version number of each of ``scopes`` that has one (one round trip per transaction).

        A consumed batch decides many incidents in one transaction: the answer is kept for the rest of it,
        and ``add`` forgets it.
        """
        memo: dict[tuple[str, ...], dict[str, int]] = self.session.info.setdefault(NEWEST_MEMO, {})
        if scopes not in memo:
            q = (
                select(rulesets.c.scope, func.max(rulesets.c.version))
                .where(rulesets.c.scope.in_(scopes))
                .group_by(rulesets.c.scope)
            )
            memo[scopes] = {scope: int(version) for scope, version in (await self.session.execute(q)).all()}
        return dict(memo[scopes])

    async def add(self, scope: str, document: dict[str, Any], source: str, now: datetime) -> StoredRuleSet:
        """Store ``document`` as the next version of ``scope``."""
        self.session.info.pop(NEWEST_MEMO, None)
        q = select(func.max(rulesets.c.version)).where(rulesets.c.scope == scope)
        version = ((await self.session.execute(q)).scalar_one_or_none() or 0) + 1
        await self.session.execute(
            insert(rulesets).values(scope=scope, version=version, document=document, source=source, created_at=now)
        )
        return StoredRuleSet(scope, version, document, now, source)

    async def versions(self) -> dict[str, list[tuple[int, datetime]]]:
        """Every scope with its versions, oldest first."""
        q = select(rulesets.c.scope, rulesets.c.version, rulesets.c.created_at).order_by(
            rulesets.c.scope, rulesets.c.version
        )
        out: dict[str, list[tuple[int, datetime]]] = {}
        for scope, version, created in (await self.session.execute(q)).all():
            out.setdefault(scope, []).append((version, aware(created) or created))
        return out


def _stored(row: Any) -> StoredRuleSet:
    created = aware(row.created_at) or row.created_at
    return StoredRuleSet(row.scope, row.version, dict(row.document), created, row.source)


class OptOutRepository:
    """Pseudonyms of people who opted out of proactive outreach (everywhere or at one facility)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, pseudonym: str, scope: str, now: datetime) -> bool:
        """Record an opt-out; False when it was already there."""
        return await insert_or_skip(self.session, opt_outs, {"pseudonym": pseudonym, "scope": scope, "created_at": now})

    async def remove(self, pseudonyms: Sequence[str], scope: str | None) -> int:
        """Opt back in under every one of a person's pseudonyms (one scope, or all when None); rows removed."""
        q = delete(opt_outs).where(opt_outs.c.pseudonym.in_(list(pseudonyms)))
        if scope is not None:
            q = q.where(opt_outs.c.scope == scope)
        result = await self.session.execute(q)
        return int(getattr(result, "rowcount", 0) or 0)

    async def scopes(self, pseudonyms: Sequence[str]) -> list[str]:
        """Scopes a person (any of their ``pseudonyms``) opted out of."""
        q = select(opt_outs.c.scope).where(opt_outs.c.pseudonym.in_(list(pseudonyms))).distinct()
        return sorted((await self.session.execute(q)).scalars())

    async def link(self, renames: Mapping[str, str], now: datetime) -> int:
        """Copy the opt-outs stored under an old pseudonym to the current one (``renames``: old -> current).

        The old rows stay, so an event still carrying only the old pseudonym is suppressed too.
        """
        if not renames:
            return 0
        q = select(opt_outs.c.pseudonym, opt_outs.c.scope).where(opt_outs.c.pseudonym.in_(list(renames)))
        added = 0
        for old, scope in (await self.session.execute(q)).all():
            row = {"pseudonym": renames[old], "scope": scope, "created_at": now}
            added += await insert_or_skip(self.session, opt_outs, row)
        return added

    async def found(self, pseudonyms: Iterable[str], scopes: Iterable[str]) -> set[tuple[str, str]]:
        """The (pseudonym, scope) opt-outs stored for any of ``pseudonyms`` in any of ``scopes`` (one query)."""
        names = list(dict.fromkeys(pseudonyms))
        if not names:
            return set()
        params = {"names": names, "scopes": list(dict.fromkeys(scopes))}
        found = await self.session.execute(lookups_for(dialect_of(self.session)).opt_outs, params)
        return {(n, s) for n, s in found.all()}


class CaseRepository:
    """Outreach cases, their members, and the decision log."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_people(self, pseudonyms: Iterable[str], incident_refs: Iterable[str]) -> None:
        """Hold the case locks of these people and incidents until commit (PostgreSQL advisory locks, one
        statement).

        Another instance deciding on any of them waits, then reads the case this transaction opens: one person
        never gets two cases in one merge window because two events were decided at the same time.
        """
        names = [f"psp.rules.person:{p}" for p in pseudonyms]
        await lock_all(self.session, [*names, *(f"psp.rules.incident:{ref}" for ref in incident_refs)])

    async def open_cases(
        self, pseudonyms: Iterable[str], incident_refs: Iterable[str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Open cases holding any of ``pseudonyms`` or covering any of ``incident_refs``, and every member row of
        them in joining order (one query per table)."""
        params = {"names": list(dict.fromkeys(pseudonyms)), "refs": list(dict.fromkeys(incident_refs))}
        lookups = lookups_for(dialect_of(self.session))
        rows = [dict(r._mapping) for r in (await self.session.execute(lookups.open_cases, params)).all()]
        if not rows:
            return [], []
        found = await self.session.execute(lookups.members_of, {"ids": [r["case_id"] for r in rows]})
        return rows, [dict(r._mapping) for r in found.all()]

    async def members(self, case_id: str) -> list[Member]:
        """Distinct people of a case, in joining order."""
        q = select(case_members).where(case_members.c.case_id == case_id).order_by(case_members.c.joined_at)
        return distinct_members(r._mapping for r in (await self.session.execute(q)).all())

    async def relink(self, renames: Mapping[str, tuple[str, str, tuple[str, ...]]]) -> int:
        """Re-key case members stored under an old pseudonym (``renames``: old -> (current, key id, aliases)).

        Each row moves to the current pseudonym (dropped when that row already exists), so a case never holds
        one person twice after a key rotation. Returns the rows moved.
        """
        if not renames:
            return 0
        q = select(case_members).where(case_members.c.pseudonym.in_(list(renames)))
        rows = [dict(r._mapping) for r in (await self.session.execute(q)).all()]
        for row in rows:
            current, key_id, aliases = renames[row["pseudonym"]]
            moved = {**row, "pseudonym": current, "key_id": key_id, "aliases": list(aliases)}
            await insert_or_skip(self.session, case_members, moved)
            await self.session.execute(
                delete(case_members).where(
                    case_members.c.case_id == row["case_id"],
                    case_members.c.pseudonym == row["pseudonym"],
                    case_members.c.incident_ref == row["incident_ref"],
                )
            )
        return len(rows)

    async def open_many(self, rows: list[dict[str, Any]]) -> None:
        """Insert new cases (one statement)."""
        if rows:
            await self.session.execute(insert(cases), [{"status": "open", **r} for r in rows])

    async def add_members(self, rows: list[dict[str, Any]]) -> None:
        """Add people to cases (one row per person, case and source incident; one statement)."""
        if rows:
            await self.session.execute(insert(case_members), rows)

    async def raise_many(self, rows: list[tuple[str, str, int, datetime]]) -> None:
        """Store cases' new (case id, urgency, tier, updated at) (one statement)."""
        if rows:
            params = [{"b_case_id": c, "b_urgency": u, "b_tier": t, "b_at": at} for c, u, t, at in rows]
            await self.session.execute(RAISE, params)

    async def close(self, case_id: str, now: datetime) -> bool:
        """Mark a case closed; False when unknown or already closed."""
        result = await self.session.execute(CLOSE, {"b_case_id": case_id, "b_at": now})
        return bool(getattr(result, "rowcount", 0))

    async def close_many(self, closes: list[tuple[str, datetime]]) -> None:
        """Close cases (case id, closed at) that are still open, in order (one statement)."""
        if closes:
            await self.session.execute(CLOSE, [{"b_case_id": c, "b_at": at} for c, at in closes])

    async def histories(self, incident_refs: Iterable[str]) -> dict[str, tuple[int, frozenset[str]]]:
        """Per incident: the highest report version decided and the units of its versions (one query)."""
        refs = list(dict.fromkeys(incident_refs))
        out: dict[str, tuple[int, frozenset[str]]] = {}
        if not refs:
            return out
        found = await self.session.execute(lookups_for(dialect_of(self.session)).histories, {"refs": refs})
        for ref, unit, version in found.all():
            last, units = out.get(ref, (int(version), frozenset()))
            out[ref] = (max(last, int(version)), units | {unit})
        return out

    async def record_many(self, rows: list[dict[str, Any]]) -> None:
        """Append decisions to the log, in order (one statement)."""
        if rows:
            await self.session.execute(insert(decisions), rows)

    async def decisions(self, incident_ref: str | None, limit: int) -> list[dict[str, Any]]:
        """Recent decisions, newest first."""
        q = select(decisions).order_by(decisions.c.id.desc()).limit(limit)
        if incident_ref:
            q = q.where(decisions.c.incident_ref == incident_ref)
        return [dict(r._mapping) for r in (await self.session.execute(q)).all()]
