"""Signed, expiring page links: ``<page_key>.<expiry epoch>.<HMAC-SHA256>`` (pure Python)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime


class TokenError(Exception):
    """A page link that is malformed, tampered with or expired."""

    def __init__(self, reason: str, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


@dataclass(frozen=True)
class PageToken:
    """The verified content of a link."""

    page_key: str
    expires_at: datetime


def _mac(key: bytes, page_key: str, expires: int) -> str:
    digest = hmac.new(key, f"psp-page-link:{page_key}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: bytes, page_key: str, expires_at: datetime) -> str:
    """A link token for ``page_key`` valid until ``expires_at``."""
    expires = int(expires_at.timestamp())
    return f"{page_key}.{expires}.{_mac(key, page_key, expires)}"


def verify(key: bytes, token: str, now: datetime) -> PageToken:
    """Check signature then expiry; raise TokenError with the reason."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[0] or len(token) > 200:
        raise TokenError("malformed link")
    page_key, expires_s, mac = parts
    if not hmac.compare_digest(_mac(key, page_key, int(expires_s)), mac):
        raise TokenError("signature does not match: link altered or not issued by this service")
    expires_at = datetime.fromtimestamp(int(expires_s), UTC)
    if now >= expires_at:
        raise TokenError("link expired", expired=True)
    return PageToken(page_key, expires_at)
