"""Delivery channels behind one interface: signed webhook, SMTP e-mail, SMS over HTTP, console log.

Delivery is at-least-once: a page may be handed to a channel again after a crash, always with the same
idempotency key (``Idempotency-Key`` header / ``X-PSP-Idempotency-Key`` mail header) for the receiver to dedupe.
Error reasons and logs never carry an address.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
import httpx

from psp_common.logs import redact_links
from psp_notification.settings import ChannelConfig, NotificationSettings

log = logging.getLogger("psp.notification.channels")


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


class ChannelError(Exception):
    """A channel could not deliver (the reason never names the address)."""


class Channel(Protocol):
    """One way to deliver a page."""

    kind: str

    async def send(self, message: PageMessage, address: str) -> None:
        """Deliver or raise ChannelError."""
        ...


def webhook_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC over ``<timestamp>.<body>``."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_webhook(secret: bytes, timestamp: str, body: bytes, signature: str, now: float, tolerance_s: float) -> bool:
    """Receiver side: signature matches and the timestamp is fresh (replay protection)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature)


class WebhookChannel:
    """POSTs the page as JSON, signed; retries 5xx/429/network errors with exponential backoff."""

    kind = "webhook"

    def __init__(
        self,
        client: httpx.AsyncClient,
        secret: bytes,
        *,
        retries: int,
        backoff_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client, self._secret, self._retries, self._backoff = client, secret, retries, backoff_s
        self._sleep, self._wall = sleep, wall

    async def send(self, message: PageMessage, address: str) -> None:
        """Deliver with retries; a 4xx other than 429 is final."""
        body = json.dumps(message.as_json(), separators=(",", ":")).encode()
        last = "no attempt"
        for attempt in range(self._retries + 1):
            if attempt:
                await self._sleep(self._backoff * (2 ** (attempt - 1)))
            ts = str(int(self._wall()))
            headers = {
                "content-type": "application/json",
                "X-PSP-Timestamp": ts,
                "X-PSP-Signature": webhook_signature(self._secret, ts, body),
                "Idempotency-Key": message.idempotency_key,
            }
            try:
                resp = await self._client.post(address, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"webhook network error: {type(exc).__name__}"
                continue
            if resp.status_code < 300:
                return
            last = f"webhook answered HTTP {resp.status_code}"
            if resp.status_code < 500 and resp.status_code != 429:
                break
        raise ChannelError(last)


class EmailChannel:
    """Sends the page by SMTP (aiosmtplib)."""

    kind = "email"

    def __init__(self, settings: NotificationSettings) -> None:
        self._s = settings

    async def send(self, message: PageMessage, address: str) -> None:
        """Deliver one e-mail."""
        mail = EmailMessage()
        mail["From"] = self._s.smtp_sender
        mail["To"] = address
        mail["Subject"] = "PSP: a colleague may need support" if message.purpose == "page" else "PSP notice"
        mail["X-PSP-Idempotency-Key"] = message.idempotency_key
        mail.set_content(message.text)
        password = self._s.smtp_password.get_secret_value() if self._s.smtp_password else None
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
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"smtp error: {type(exc).__name__}") from exc


class SmsChannel:
    """Sends the page through an SMS provider's HTTP API (POST JSON ``{to, from, text}``)."""

    kind = "sms"

    def __init__(self, client: httpx.AsyncClient, url: str | None, api_key: str | None, sender: str) -> None:
        self._client, self._url, self._key, self._sender = client, url, api_key, sender

    async def send(self, message: PageMessage, address: str) -> None:
        """Deliver one SMS."""
        if not self._url:
            raise ChannelError("sms provider not configured")
        headers = {"Idempotency-Key": message.idempotency_key}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        try:
            resp = await self._client.post(
                self._url, json={"to": address, "from": self._sender, "text": message.text}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ChannelError(f"sms network error: {type(exc).__name__}") from exc
        if resp.status_code >= 300:
            raise ChannelError(f"sms provider answered HTTP {resp.status_code}")


class ConsoleChannel:
    """Logs the page (make run's default): the recipient's pseudonym and the text, never an address nor a link's
    token (a log reader must not be able to answer someone else's page)."""

    kind = "console"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("psp.notification.page")

    async def send(self, message: PageMessage, address: str) -> None:
        """Write one log line."""
        self._log.warning(
            "PAGE %s to %s [%s]: %s",
            message.purpose,
            message.recipient_ref,
            message.idempotency_key,
            redact_links(message.text),
        )


class ChannelRouter:
    """Tries a person's channels in preference order, falling through on failure."""

    def __init__(self, channels: Sequence[Channel]) -> None:
        self.channels = {c.kind: c for c in channels}

    async def deliver(self, message: PageMessage, preferences: Sequence[ChannelConfig]) -> str:
        """Deliver through the first channel that works; return its kind or raise ChannelError (all reasons)."""
        reasons = []
        for pref in preferences:
            channel = self.channels.get(pref.kind)
            if channel is None:
                reasons.append(f"{pref.kind}: not available")
                continue
            try:
                await channel.send(message, pref.address)
                return pref.kind
            except ChannelError as exc:
                reasons.append(f"{pref.kind}: {exc}")
            except Exception as exc:  # a broken adapter must not stop the fall-through
                reasons.append(f"{pref.kind}: {type(exc).__name__}")
            log.warning("page %s via %s failed; trying next channel", message.idempotency_key, pref.kind)
        raise ChannelError("; ".join(reasons) or "no channel")
