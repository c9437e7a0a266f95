"""How long a console session lives and what a sign-in must prove (state, nonce, single use, in time)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta


class SignInRefused(Exception):
    """The provider's answer does not complete a sign-in this browser started; the message says why."""


def new_secret() -> str:
    """A random, URL-safe value of 256 bits (session ids, state, nonce, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    """What is stored instead of a secret the browser holds (SHA-256, hex)."""
    return hashlib.sha256(value.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two secrets (False when either is missing)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


@dataclass(frozen=True)
class SessionTimes:
    """When a session ends: at idle expiry, and never after its access token expires."""

    token_expires_at: datetime
    idle: timedelta

    def expiry(self, now: datetime) -> datetime:
        """The session's end if it is used at ``now``: min(token expiry, now + idle timeout)."""
        return min(self.token_expires_at, now + self.idle)


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in this browser started: what the callback must match."""

    browser_hash: str  # digest of the value in the browser's sign-in cookie
    code_verifier: str
    nonce: str
    return_to: str
    started_at: datetime

    def check(self, browser_value: str | None, now: datetime, timeout: timedelta) -> None:
        """The callback comes from the browser that started it, in time; SignInRefused otherwise."""
        if browser_value is None or not same(digest(browser_value), self.browser_hash):
            raise SignInRefused("this sign-in was started in another browser or its cookie is gone")
        if now > self.started_at + timeout:
            raise SignInRefused("the sign-in took too long")


def safe_return_path(path: str | None) -> str:
    """A local path to return to after sign-in (never another site: ``//host`` and ``/\\host`` are refused)."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")) or any(c in path for c in "\r\n"):
        return "/"
    return path[:500]
