"""A staff directory entry: who a colleague is and how to reach them at work (pure Python).

Validation errors name the field and the rule, never the value: a directory row is personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_MAX = 200
TEXT_MAX = 120
# E.164-ish: '+', country code and number (8-15 digits), separators allowed; optional extension.
_PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
_PHONE = re.compile(r"^\+[1-9]\d{7,14}$")
_EXTENSION = re.compile(r"^(?P<number>.+?)\s*(?:;ext=|ext\.?|x|#)\s*(?P<ext>\d{1,6})$", re.IGNORECASE)
# A pager: a short numeric id or a number, optional leading '+', separators allowed.
_PAGER = re.compile(r"^\+?\d[\d\s\-.]{0,30}$")
# An e-mail address: local@domain.tld, one '@', no spaces, a dot in the domain.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")


class InvalidEntry(ValueError):
    """A directory field that breaks a rule; ``field`` names it, ``reason`` says the rule (no value)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def normalize_phone(value: str, name: str = "phone") -> str:
    """``value`` as E.164 (``+15551234567``), an extension kept as ``;ext=123`` (RFC 3966)."""
    text = value.strip()
    ext = ""
    if m := _EXTENSION.match(text):
        text, ext = m.group("number"), f";ext={m.group('ext')}"
    digits = _PHONE_SEPARATORS.sub("", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not _PHONE.match(digits):
        raise InvalidEntry(name, "expected an international number: '+', country code, 8 to 15 digits")
    return digits + ext


def normalize_pager(value: str) -> str:
    """A pager number or id: digits (optional '+'), separators removed."""
    text = value.strip()
    if not _PAGER.match(text):
        raise InvalidEntry("pager", "expected digits (optionally '+' and separators), at most 32 characters")
    return re.sub(r"[\s\-.]", "", text)


def normalize_email(value: str) -> str:
    """An e-mail address, the domain lower-cased."""
    text = value.strip()
    if len(text) > 254 or not _EMAIL.match(text):
        raise InvalidEntry("email", "expected an e-mail address (name@domain)")
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _text(name: str, value: str | None, limit: int) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        return None
    if len(text) > limit or any(not ch.isprintable() for ch in text):
        raise InvalidEntry(name, f"at most {limit} printable characters")
    return text


@dataclass(frozen=True)
class DirectoryEntry:
    """A colleague: display name, role or profession, unit, work phone, pager, e-mail (at least one contact)."""

    display_name: str
    role: str | None = None
    unit: str | None = None
    phone: str | None = None
    pager: str | None = None
    email: str | None = None

    @classmethod
    def create(
        cls,
        display_name: str | None,
        role: str | None = None,
        unit: str | None = None,
        phone: str | None = None,
        pager: str | None = None,
        email: str | None = None,
    ) -> DirectoryEntry:
        """A validated, normalized entry; InvalidEntry names the first field that breaks a rule."""
        name = _text("display_name", display_name, NAME_MAX)
        if name is None:
            raise InvalidEntry("display_name", "required")
        phone_n = normalize_phone(phone) if phone and phone.strip() else None
        pager_n = normalize_pager(pager) if pager and pager.strip() else None
        email_n = normalize_email(email) if email and email.strip() else None
        if not (phone_n or pager_n or email_n):
            raise InvalidEntry("contact", "give at least one of phone, pager, email")
        return cls(
            display_name=name,
            role=_text("role", role, TEXT_MAX),
            unit=_text("unit", unit, TEXT_MAX),
            phone=phone_n,
            pager=pager_n,
            email=email_n,
        )
