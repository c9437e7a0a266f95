"""Rule set drafts: one shared draft per scope that coordinators edit until it is published or discarded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_rules.adapters.orm import ruleset_drafts


@dataclass(frozen=True)
class Draft:
    """The stored draft of one scope."""

    scope: str
    source: str
    revision: int
    updated_at: datetime
    updated_by: str


class StaleDraft(Exception):
    """The draft changed since the revision the caller edited (someone else saved, published or discarded)."""

    def __init__(self, current: int | None) -> None:
        super().__init__(f"the draft is at revision {current}" if current else "there is no draft")
        self.current = current


class DraftRepository:
    """Drafts keyed by scope; every save bumps the revision, so two editors cannot overwrite each other."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, scope: str) -> Draft | None:
        """The draft of ``scope``, if any."""
        row = (await self.session.execute(select(ruleset_drafts).where(ruleset_drafts.c.scope == scope))).first()
        if row is None:
            return None
        updated = aware(row.updated_at) or row.updated_at
        return Draft(row.scope, row.source, row.revision, updated, row.updated_by)

    async def scopes(self) -> list[str]:
        """Scopes that have a draft."""
        return sorted((await self.session.execute(select(ruleset_drafts.c.scope))).scalars())

    async def save(self, scope: str, source: str, base: int | None, by: str, now: datetime) -> Draft:
        """Store ``source`` as the next revision; ``base`` is the revision edited (None or 0: a new draft).

        Raises StaleDraft when the stored revision is not ``base`` (the caller reloads and merges).
        """
        current = await self.get(scope)
        have = current.revision if current else 0
        if (base or 0) != have:
            raise StaleDraft(have or None)
        values = {"source": source, "revision": have + 1, "updated_at": now, "updated_by": by}
        if current is None:
            await self.session.execute(insert(ruleset_drafts).values(scope=scope, **values))
        else:
            q = update(ruleset_drafts).where(ruleset_drafts.c.scope == scope, ruleset_drafts.c.revision == have)
            if getattr(await self.session.execute(q.values(**values)), "rowcount", 1) != 1:
                raise StaleDraft(None)
        return Draft(scope, source, have + 1, now, by)

    async def delete(self, scope: str, revision: int | None = None) -> bool:
        """Remove the draft (only at ``revision`` when given); whether one was removed."""
        q = delete(ruleset_drafts).where(ruleset_drafts.c.scope == scope)
        if revision is not None:
            q = q.where(ruleset_drafts.c.revision == revision)
        return int(getattr(await self.session.execute(q), "rowcount", 0) or 0) > 0
