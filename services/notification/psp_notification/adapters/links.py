"""Stored page-link tokens (hashes only): issue, look up, use once, delete with their pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, get_by
from psp_notification.adapters.bulk import insert_many
from psp_notification.adapters.orm import page_tokens, pages
from psp_notification.domain.tokens import StoredLink


def _stored(row: dict[str, object]) -> StoredLink:
    values = {k: aware(v) if isinstance(v, datetime) else v for k, v in row.items()}
    return StoredLink(**values)  # type: ignore[arg-type]


class LinkRepository:
    """Page-link rows of one unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, links: list[StoredLink]) -> None:
        """Store issued links (one statement)."""
        if links:
            rows = [{f: getattr(link, f) for f in StoredLink.__dataclass_fields__} for link in links]
            await insert_many(self.session, page_tokens, rows)

    async def get(self, token_hash: str, *, lock: bool = False) -> StoredLink | None:
        """The link with this hash (locked for update if asked, where the database supports it)."""
        row = await get_by(self.session, page_tokens, "token_hash", token_hash, lock=lock)
        return _stored(dict(row._mapping)) if row is not None else None

    async def use(self, token_hash: str, now: datetime) -> bool:
        """Mark the link used unless it already was (one conditional statement); whether this call used it."""
        query = (
            update(page_tokens)
            .where(page_tokens.c.token_hash == token_hash, page_tokens.c.used_at.is_(None))
            .values(used_at=now)
        )
        return bool((await self.session.execute(query)).rowcount)  # type: ignore[attr-defined]

    async def delete_for_cases(self, case_ids: list[str]) -> None:
        """Forget the links of these cases' pages (retention)."""
        of_cases = select(pages.c.id).where(pages.c.case_id.in_(case_ids))
        await self.session.execute(delete(page_tokens).where(page_tokens.c.page_id.in_(of_cases)))
