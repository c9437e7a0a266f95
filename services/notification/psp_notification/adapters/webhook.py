"""The webhook channel: the page POSTed as signed JSON to the address a person registered.

The client it is given (``egress.GuardedClient``) checks the address and connects only to checked addresses.
Redirects are never followed (a 3xx is a permanent failure) and at most ``max_body_bytes`` of a response are
read. The overall deadline is the router's. Errors name the status or the kind of failure, never the URL
(aiohttp's exception texts carry it, so they are not chained).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp

from psp_notification.adapters.channels import PageMessage, TransportError, http_status_error
from psp_notification.adapters.egress import AddressRefused, GuardedClient


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
        client: GuardedClient,
        secret: bytes,
        *,
        retries: int,
        backoff_s: float,
        max_body_bytes: int = 64 * 1024,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client, self._secret, self._retries, self._backoff = client, secret, retries, backoff_s
        self._max_body, self._sleep, self._wall = max_body_bytes, sleep, wall

    async def notify(self, message: PageMessage, address: str) -> None:
        """Deliver with retries; a permanent failure (4xx, 3xx, refused address) ends at once."""
        body = json.dumps(message.as_json(), separators=(",", ":")).encode()
        last = TransportError("webhook: no attempt")
        for attempt in range(self._retries + 1):
            if attempt:
                await self._sleep(self._backoff * (2 ** (attempt - 1)))
            try:
                await self._post(address, body, message.idempotency_key)
                return
            except TransportError as exc:
                last = exc
            if last.permanent:
                break
        raise last

    async def _post(self, address: str, body: bytes, key: str) -> None:
        ts = str(int(self._wall()))
        headers = {
            "content-type": "application/json",
            "X-PSP-Timestamp": ts,
            "X-PSP-Signature": webhook_signature(self._secret, ts, body),
            "Idempotency-Key": key,
        }
        reason: TransportError | None = None
        try:
            status = await self._client.post(address, body, headers, self._max_body)
        except AddressRefused as exc:
            reason = TransportError(f"webhook address refused: {exc}", permanent=True)
        except aiohttp.InvalidURL:
            reason = TransportError("webhook address is not a valid URL", permanent=True)
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = TransportError(f"webhook network error: {type(exc).__name__}")
        if reason is not None:
            raise reason  # outside the except blocks: no chained aiohttp exception (its text names the URL)
        if status >= 300:
            raise http_status_error("webhook", status)
