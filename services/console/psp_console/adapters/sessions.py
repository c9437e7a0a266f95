"""Server-side sessions and sign-ins in progress, in the console's own database.

The browser holds only a random id; the row is found by its SHA-256, so a copy of the table opens no session.
The access token stays here and is sent only to the services' APIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from psp_common.db import aware
from psp_console.adapters.orm import pending_sign_ins, web_sessions
from psp_console.domain.session import PendingSignIn, SessionTimes, digest, new_secret


@dataclass(frozen=True)
class WebSession:
    """A signed-in user, as the pages see them."""

    subject: str
    display_name: str
    roles: tuple[str, ...]
    scopes: frozenset[str]
    staff_id: str | None
    access_token: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class NewSession:
    """What a completed sign-in stores."""

    subject: str
    display_name: str
    roles: list[str]
    scopes: frozenset[str]
    staff_id: str | None
    access_token: str
    token_expires_at: datetime
    id_token: str | None = None


class SessionStore:
    """Sessions and pending sign-ins on the console's database."""

    def __init__(self, engine: AsyncEngine, idle: timedelta) -> None:
        self.engine = engine
        self.idle = idle

    async def create(self, new: NewSession, now: datetime) -> str:
        """Store a session; return the random id for the cookie (only its digest is stored)."""
        session_id = new_secret()
        times = SessionTimes(new.token_expires_at, self.idle)
        row = {
            "id_hash": digest(session_id),
            "subject": new.subject,
            "display_name": new.display_name,
            "roles": list(new.roles),
            "scopes": sorted(new.scopes),
            "staff_id": new.staff_id,
            "access_token": new.access_token,
            "id_token": new.id_token,
            "csrf_token": new_secret(),
            "created_at": now,
            "token_expires_at": new.token_expires_at,
            "expires_at": times.expiry(now),
        }
        async with self.engine.begin() as conn:
            await conn.execute(insert(web_sessions).values(**row))
        return session_id

    async def use(self, session_id: str | None, now: datetime) -> WebSession | None:
        """The live session for a cookie value, its idle expiry moved on; None when unknown or expired."""
        if not session_id:
            return None
        key = digest(session_id)
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(web_sessions).where(web_sessions.c.id_hash == key))).mappings().first()
            if row is None:
                return None
            expires_at = aware(row["expires_at"])
            if expires_at is None or expires_at <= now:
                await conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == key))
                return None
            token_expires = aware(row["token_expires_at"]) or now
            expires_at = SessionTimes(token_expires, self.idle).expiry(now)
            await conn.execute(update(web_sessions).where(web_sessions.c.id_hash == key).values(expires_at=expires_at))
        return WebSession(
            subject=row["subject"],
            display_name=row["display_name"],
            roles=tuple(row["roles"]),
            scopes=frozenset(row["scopes"]),
            staff_id=row["staff_id"],
            access_token=row["access_token"],
            csrf_token=row["csrf_token"],
            expires_at=expires_at,
        )

    async def end(self, session_id: str | None) -> str | None:
        """Delete a session (sign-out); its ID token (the provider's logout hint), if it had one."""
        if not session_id:
            return None
        key = digest(session_id)
        async with self.engine.begin() as conn:
            id_token = (
                await conn.execute(select(web_sessions.c.id_token).where(web_sessions.c.id_hash == key))
            ).scalar()
            await conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == key))
        return id_token

    async def purge(self, now: datetime, sign_in_timeout: timedelta) -> None:
        """Drop expired sessions and abandoned sign-ins."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
            await conn.execute(delete(pending_sign_ins).where(pending_sign_ins.c.started_at <= now - sign_in_timeout))

    async def start_sign_in(self, state: str, pending: PendingSignIn) -> None:
        """Remember a sign-in sent to the provider, under the digest of its state."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(pending_sign_ins).values(
                    state_hash=digest(state),
                    browser_hash=pending.browser_hash,
                    code_verifier=pending.code_verifier,
                    nonce=pending.nonce,
                    return_to=pending.return_to,
                    started_at=pending.started_at,
                )
            )

    async def take_sign_in(self, state: str) -> PendingSignIn | None:
        """The sign-in a callback's state names, removed (a state is used once); None when unknown."""
        key = digest(state)
        async with self.engine.begin() as conn:
            row = (
                (await conn.execute(select(pending_sign_ins).where(pending_sign_ins.c.state_hash == key)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            gone = await conn.execute(delete(pending_sign_ins).where(pending_sign_ins.c.state_hash == key))
            if gone.rowcount != 1:  # another request took it first
                return None
        return PendingSignIn(
            browser_hash=row["browser_hash"],
            code_verifier=row["code_verifier"],
            nonce=row["nonce"],
            return_to=row["return_to"],
            started_at=aware(row["started_at"]) or datetime.min,
        )
