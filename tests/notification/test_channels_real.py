"""Channels against real local servers: SMTP (aiosmtpd), an SMS provider and a webhook receiver over sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from email import message_from_bytes
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from psp_notification.adapters.channels import (
    ChannelRouter,
    ConsoleChannel,
    EmailChannel,
    PageMessage,
    SmsChannel,
    TransportError,
)
from psp_notification.adapters.egress import EgressPolicy, GuardedClient
from psp_notification.adapters.webhook import WebhookChannel, verify_webhook
from psp_notification.settings import ChannelConfig, NotificationSettings
from tests.clock import TEST_NOW

SECRET = b"webhook-secret-for-tests-0123456789"
MESSAGE = PageMessage(
    idempotency_key="key-123",
    recipient_ref="ps_abc",
    purpose="page",
    urgency="immediate",
    text="PSP: a colleague may need peer support, as soon as possible. Acknowledge: http://x/ack",
    links={"ack": "http://x/ack", "decline": "http://x/decline"},
)


def dev_client() -> GuardedClient:
    """The webhook client as in dev: any address."""
    return GuardedClient(EgressPolicy(production=False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Run ``app`` on a real local socket; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Recorder:
    def __init__(self, fail_first: int = 0, status: int = 503) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first, self.status = fail_first, status

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if len(self.requests) <= self.fail_first:
            return JSONResponse({"error": "busy"}, status_code=self.status)
        return JSONResponse({"ok": True})


async def no_sleep(_: float) -> None:
    return None


SIGNED_AT = TEST_NOW.timestamp()


async def test_webhook_is_signed_retried_and_verifiable() -> None:
    rec = Recorder(fail_first=2)
    app = Starlette(routes=[Route("/hook", rec.handle, methods=["POST"])])
    delays: list[float] = []

    async def sleep(s: float) -> None:
        delays.append(s)

    async with serve(app) as base, dev_client() as client:
        channel = WebhookChannel(client, SECRET, retries=3, backoff_s=0.5, sleep=sleep, wall=lambda: SIGNED_AT)
        await channel.notify(MESSAGE, f"{base}/hook")
    assert len(rec.requests) == 3 and delays == [0.5, 1.0]  # exponential backoff
    for req in rec.requests:
        h, body = req["headers"], req["body"]
        assert h["idempotency-key"] == "key-123"
        assert verify_webhook(SECRET, h["x-psp-timestamp"], body, h["x-psp-signature"], SIGNED_AT, 300)
        assert not verify_webhook(SECRET, h["x-psp-timestamp"], body + b" ", h["x-psp-signature"], SIGNED_AT, 300)
        assert not verify_webhook(b"other-secret", h["x-psp-timestamp"], body, h["x-psp-signature"], SIGNED_AT, 300)
        assert not verify_webhook(SECRET, h["x-psp-timestamp"], body, h["x-psp-signature"], SIGNED_AT + 3600, 300)
    assert json.loads(rec.requests[0]["body"])["recipient_ref"] == "ps_abc"


async def test_webhook_gives_up_on_4xx_and_after_retries() -> None:
    refused, busy = Recorder(fail_first=99, status=400), Recorder(fail_first=99, status=503)
    app = Starlette(
        routes=[Route("/refuse", refused.handle, methods=["POST"]), Route("/busy", busy.handle, methods=["POST"])]
    )
    async with serve(app) as base, dev_client() as client:
        channel = WebhookChannel(client, SECRET, retries=2, backoff_s=0.0, sleep=no_sleep)
        with pytest.raises(TransportError, match="HTTP 400"):
            await channel.notify(MESSAGE, f"{base}/refuse")
        with pytest.raises(TransportError, match="HTTP 503"):
            await channel.notify(MESSAGE, f"{base}/busy")
        with pytest.raises(TransportError, match="network error"):
            await channel.notify(MESSAGE, f"http://127.0.0.1:{free_port()}/gone")
    assert len(refused.requests) == 1 and len(busy.requests) == 3


async def test_sms_provider_receives_the_page_and_errors_fall_through() -> None:
    rec, down = Recorder(), Recorder(fail_first=99, status=500)
    app = Starlette(routes=[Route("/sms", rec.handle, methods=["POST"]), Route("/down", down.handle, methods=["POST"])])
    async with serve(app) as base, httpx.AsyncClient() as client:
        await SmsChannel(client, f"{base}/sms", "api-key-1", "PSP").notify(MESSAGE, "+14165550100")
        broken = SmsChannel(client, f"{base}/down", None, "PSP")
        with pytest.raises(TransportError, match="HTTP 500") as err:
            await broken.notify(MESSAGE, "+14165550100")
        assert "5550100" not in str(err.value)
        router = ChannelRouter([broken, ConsoleChannel()], deadline_s=5)
        kind = await router.deliver(
            MESSAGE, [ChannelConfig(kind="sms", address="+14165550100"), ChannelConfig(kind="console")]
        )
    assert kind == "console"
    [req] = rec.requests
    assert json.loads(req["body"]) == {"to": "+14165550100", "from": "PSP", "text": MESSAGE.text}
    assert req["headers"]["authorization"] == "Bearer api-key-1"
    assert req["headers"]["idempotency-key"] == "key-123"


class MailSink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


async def test_email_goes_through_a_real_smtp_server() -> None:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = NotificationSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_sender="psp@hospital.example")
        await EmailChannel(settings).notify(MESSAGE, "dana@hospital.example")
        with pytest.raises(TransportError, match="smtp error") as err:
            await EmailChannel(settings.model_copy(update={"smtp_port": free_port()})).notify(MESSAGE, "x@y.example")
        assert "x@y" not in str(err.value)
    finally:
        controller.stop()
    [(rcpt, raw)] = sink.messages
    mail = message_from_bytes(raw)
    assert rcpt == ["dana@hospital.example"] and mail["X-PSP-Idempotency-Key"] == "key-123"
    assert mail["Subject"] == "PSP: a colleague may need support"
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes) and b"Acknowledge: http://x/ack" in payload


async def test_console_page_logs_pseudonym_and_links_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="psp")
    await ConsoleChannel().notify(MESSAGE, "dana@hospital.example")
    assert "ps_abc" in caplog.text and "http://x/ack" in caplog.text and "dana@" not in caplog.text


async def test_webhook_requests_do_not_search_for_a_missing_module() -> None:
    """Nothing is imported per request (httpcore imported sniffio on every request: when it was missing, each
    request repeated a failed sys.path search)."""
    rec = Recorder(fail_first=0)
    app = Starlette(routes=[Route("/hook", rec.handle, methods=["POST"])])
    finds: list[str] = []

    class Spy:
        @staticmethod
        def find_spec(name: str, path: Any = None, target: Any = None) -> None:
            finds.append(name)

    async with serve(app) as base, dev_client() as client:
        channel = WebhookChannel(client, SECRET, retries=0, backoff_s=0.0)
        await channel.notify(MESSAGE, f"{base}/hook")  # warm: anything imported lazily is imported now
        sys.meta_path.insert(0, Spy)  # type: ignore[arg-type]
        try:
            for _ in range(3):
                await channel.notify(MESSAGE, f"{base}/hook")
        finally:
            sys.meta_path.remove(Spy)  # type: ignore[arg-type]
    assert len(rec.requests) == 4
    assert finds == [], f"modules searched for on every request: {sorted(set(finds))}"
