"""Delivery channels behind one interface (``notify``): SMTP e-mail, SMS over HTTP, console log; the signed
webhook is in ``webhook.py``. The router tries a person's channels in order, each within one overall deadline.

Delivery is at-least-once: a page may be handed to a channel again after a crash, always with the same
idempotency key (``Idempotency-Key`` header / ``X-PSP-Idempotency-Key`` mail header) for the receiver to dedupe.
Error reasons and logs never carry an address.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib
import httpx

from psp_common.logs import redact_links
from psp_notification.domain import texts
from psp_notification.settings import ChannelConfig, NotificationSettings

log = logging.getLogger("psp.notification.channels")
RETRYABLE_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class PageMessage:
    """What is delivered: no clinical detail, no contact details."""

    idempotency_key: str
    recipient_ref: str
    purpose: str
    urgency: str | None
    text: str
    links: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """Body of webhook calls."""
        return {
            "idempotency_key": self.idempotency_key,
            "recipient_ref": self.recipient_ref,
            "purpose": self.purpose,
            "urgency": self.urgency,
            "text": self.text,
            "links": self.links,
        }


class TransportError(Exception):
    """A channel could not deliver; ``permanent`` when trying again cannot help (the reason never names the address)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Channel(Protocol):
    """One way to deliver a page."""

    kind: str

    async def notify(self, message: PageMessage, address: str) -> None:
        """Deliver or raise TransportError."""
        ...


def http_status_error(kind: str, status: int) -> TransportError:
    """A non-2xx answer: 5xx and 408/425/429 may pass; anything else (3xx: redirects are not followed) will not."""
    return TransportError(f"{kind} answered HTTP {status}", permanent=status < 500 and status not in RETRYABLE_STATUS)


class EmailChannel:
    """Sends the page by SMTP (aiosmtplib)."""

    kind = "email"

    def __init__(self, settings: NotificationSettings) -> None:
        self._s = settings

    async def notify(self, message: PageMessage, address: str) -> None:
        """Deliver one e-mail; a refused recipient is permanent."""
        mail = EmailMessage()
        mail["From"] = self._s.smtp_sender
        mail["To"] = address
        mail["Subject"] = texts.subject(message.purpose)
        mail["X-PSP-Idempotency-Key"] = message.idempotency_key
        mail.set_content(message.text)
        password = self._s.smtp_password.get_secret_value() if self._s.smtp_password else None
        reason: TransportError | None = None
        try:
            await aiosmtplib.send(
                mail,
                hostname=self._s.smtp_host,
                port=self._s.smtp_port,
                username=self._s.smtp_username,
                password=password,
                start_tls=self._s.smtp_starttls,
                timeout=self._s.webhook_timeout_s,
            )
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPRecipientsRefused) as exc:
            reason = TransportError(f"smtp error: {type(exc).__name__}", permanent=True)
        except (aiosmtplib.SMTPException, OSError) as exc:
            reason = TransportError(f"smtp error: {type(exc).__name__}")
        if reason is not None:
            raise reason  # not chained: SMTP error texts can name the recipient


class SmsChannel:
    """Sends the page through an SMS provider's HTTP API (POST JSON ``{to, from, text}``)."""

    kind = "sms"

    def __init__(self, client: httpx.AsyncClient, url: str | None, api_key: str | None, sender: str) -> None:
        self._client, self._url, self._key, self._sender = client, url, api_key, sender

    async def notify(self, message: PageMessage, address: str) -> None:
        """Deliver one SMS."""
        if not self._url:
            raise TransportError("sms provider not configured", permanent=True)
        headers = {"Idempotency-Key": message.idempotency_key}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        reason: TransportError | None = None
        try:
            resp = await self._client.post(
                self._url, json={"to": address, "from": self._sender, "text": message.text}, headers=headers
            )
        except httpx.HTTPError as exc:
            reason = TransportError(f"sms network error: {type(exc).__name__}")
        if reason is not None:
            raise reason  # not chained: httpx error texts carry the URL
        if resp.status_code >= 300:
            raise http_status_error("sms provider", resp.status_code)


class ConsoleChannel:
    """Logs the page (make run's default): the recipient's pseudonym and the text, never an address nor a link's
    token (a log reader must not be able to answer someone else's page)."""

    kind = "console"

    def __init__(self, logger: logging.Logger | None = None, links_file: Path | None = None) -> None:
        self._log = logger or logging.getLogger("psp.notification.page")
        self.links_file = links_file  # PSP_ENV=dev only (settings refuse it in production): the full links

    async def notify(self, message: PageMessage, address: str) -> None:
        """Write one log line (and, in dev, the page's full links to ``links_file``)."""
        self._log.warning(
            "PAGE %s to %s [%s]: %s",
            message.purpose,
            message.recipient_ref,
            message.idempotency_key,
            redact_links(message.text),
        )
        if self.links_file is not None and message.links:
            lines = "".join(f"{message.recipient_ref} {action} {url}\n" for action, url in message.links.items())
            await asyncio.to_thread(_append_private, self.links_file, lines)


def _append_private(path: Path, text: str) -> None:
    """Append to a file only its owner may read (created 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(text)


class ChannelRouter:
    """Tries a person's channels in preference order, falling through on failure.

    Each channel's ``notify`` (DNS, connect, retries, reading the answer) gets at most ``deadline_s``; the
    whole fall-through at most ``budget_s``, so a page is always marked while its lease is still held.
    """

    def __init__(self, channels: Sequence[Channel], *, deadline_s: float, budget_s: float | None = None) -> None:
        self.channels = {c.kind: c for c in channels}
        self.deadline_s, self.budget_s = deadline_s, budget_s
        self.observe: Callable[[str, str], None] = lambda kind, outcome: None  # metrics: (channel, sent|failed)

    async def deliver(self, message: PageMessage, preferences: Sequence[ChannelConfig]) -> str:
        """Deliver through the first channel that works; return its kind or raise TransportError (all reasons)."""
        failures: list[tuple[str, bool]] = []
        try:
            async with asyncio.timeout(self.budget_s):
                for pref in preferences:
                    failure = await self._try(self.channels.get(pref.kind), message, pref)
                    self.observe(pref.kind, "sent" if failure is None else "failed")
                    if failure is None:
                        return pref.kind
                    failures.append(failure)
                    log.warning("page %s via %s failed; trying next channel", message.idempotency_key, pref.kind)
        except TimeoutError:
            failures.append(("no channel answered within the page's time budget", False))
        reasons = "; ".join(reason for reason, _ in failures) or "no channel"
        raise TransportError(reasons, permanent=all(permanent for _, permanent in failures))

    async def _try(self, channel: Channel | None, message: PageMessage, pref: ChannelConfig) -> tuple[str, bool] | None:
        """None when ``channel`` took the page, else (reason, permanent)."""
        if channel is None:
            return f"{pref.kind}: not available", True
        try:
            async with asyncio.timeout(self.deadline_s):
                await channel.notify(message, pref.address)
            return None
        except TimeoutError:
            return f"{pref.kind}: no answer within the {self.deadline_s:g} s deadline", False
        except TransportError as exc:
            return f"{pref.kind}: {exc}", exc.permanent
        except Exception as exc:  # a broken adapter must not stop the fall-through
            return f"{pref.kind}: {type(exc).__name__}", False
