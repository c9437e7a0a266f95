"""Page-link tokens: random, stored only as a hash, bound to one page, recipient and action (pure Python).

A link carries 256 random bits and nothing else; it cannot be computed from anything the service publishes.
The database keeps the SHA-256 of the token, so a database read does not yield a usable link either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from psp_notification.domain.errors import FormRefused, LinkRefused, LinkSpent

TOKEN_BYTES = 32  # 256 bits
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32): 43 base64url characters


class Action(StrEnum):
    """What a page link does (one token per action)."""

    ACK = "ack"
    DECLINE = "decline"
    VIEW = "view"  # the acknowledging supporter's case page: read-only, reusable until it expires


PAGE_ACTIONS = (Action.ACK, Action.DECLINE)  # the links a page message carries


@dataclass(frozen=True)
class StoredLink:
    """A token's stored row: its hash, page, recipient, action, expiry and first use."""

    token_hash: str
    page_id: int
    recipient_ref: str
    action: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    form_secret: str | None = None  # view tokens only: key of the case page's form tokens


def new_token() -> str:
    """A fresh link token (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    """What is stored and looked up: the token's SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """Whether ``token`` has the shape of an issued token (anything else is refused before a lookup)."""
    return bool(_SHAPE.match(token))


def issue(page_id: int, recipient_ref: str, now: datetime, ttl: timedelta) -> tuple[dict[str, str], list[StoredLink]]:
    """Fresh tokens for a page's actions (for the message only) and the rows to store (hashes, never tokens)."""
    raw = {action.value: new_token() for action in PAGE_ACTIONS}
    rows = [StoredLink(digest(t), page_id, recipient_ref, action, now, now + ttl, None) for action, t in raw.items()]
    return raw, rows


def issue_view(page_id: int, recipient_ref: str, now: datetime, expires_at: datetime) -> tuple[str, StoredLink]:
    """A fresh case-page token for the supporter who acknowledged (for the redirect only) and its stored row."""
    raw = new_token()
    row = StoredLink(digest(raw), page_id, recipient_ref, Action.VIEW.value, now, expires_at, None, new_token())
    return raw, row


def form_token(link: StoredLink) -> str:
    """The hidden field of the case page's forms (CSRF): HMAC of the view token's hash under the row's own
    random key, so it is neither the link nor computable from it; a POST without it changes nothing."""
    if not link.form_secret:
        raise FormRefused("csrf", "this link cannot act")
    return hmac.new(link.form_secret.encode(), link.token_hash.encode(), hashlib.sha256).hexdigest()


def check_form(link: StoredLink, given: str | None) -> None:
    """FormRefused unless ``given`` is the link's form token."""
    if not given or not hmac.compare_digest(form_token(link), given):
        raise FormRefused("csrf", "the form is missing or not from this page: reload the page and try again")


def check(link: StoredLink | None, action: Action, now: datetime) -> StoredLink:
    """The link if it may do ``action`` now; LinkRefused (unknown, other action) or LinkSpent (expired, used)."""
    if link is None:
        raise LinkRefused("token", "unknown link: altered, withdrawn or not issued by this service")
    if link.action != action.value:
        raise LinkRefused("token", f"this link is for another action, not {action.value}")
    if now >= link.expires_at:
        raise LinkSpent("token", "link expired")
    if link.used_at is not None:
        raise LinkSpent("token", "link already used")
    return link
