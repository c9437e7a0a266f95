"""No contact detail (webhook URL, e-mail, phone) in any log line, tracebacks included, whatever the level."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from psp_common.logs import RedactingFilter, quiet_http_clients
from psp_notification.adapters.channels import ChannelRouter, EmailChannel, SmsChannel, TransportError
from psp_notification.adapters.egress import GuardedClient
from psp_notification.adapters.webhook import WebhookChannel
from psp_notification.bootstrap import webhook_client
from psp_notification.settings import ChannelConfig, NotificationSettings
from tests.notification.test_channels_real import MESSAGE, SECRET, Recorder, free_port, serve

HOOK_PATH = "/hooks/team-7f3a9c"
EMAIL = "dana.whitfield@hospital.example"
PHONE = "+14165550199"


async def _send_and_log_failures(
    base: str, dead: str, client: GuardedClient, provider: httpx.AsyncClient
) -> list[TransportError]:
    log = logging.getLogger("psp.notification.test")
    hook = WebhookChannel(client, SECRET, retries=1, backoff_s=0)
    settings = NotificationSettings(env="dev", smtp_host="127.0.0.1", smtp_port=free_port(), webhook_timeout_s=2)
    router = ChannelRouter(
        [hook, EmailChannel(settings), SmsChannel(provider, f"{dead}/sms", None, "PSP")], deadline_s=5
    )
    await hook.notify(MESSAGE, f"{base}{HOOK_PATH}")  # a successful send
    errors = []
    for pref in (
        ChannelConfig(kind="webhook", address=f"{base}/missing{HOOK_PATH}"),  # HTTP 404
        ChannelConfig(kind="webhook", address=f"{dead}{HOOK_PATH}"),  # connection refused
        ChannelConfig(kind="email", address=EMAIL),  # no SMTP server
        ChannelConfig(kind="sms", address=PHONE),  # no SMS provider
    ):
        try:
            await router.deliver(MESSAGE, [pref])
        except TransportError as exc:
            log.exception("delivery failed")  # the traceback is logged too
            errors.append(exc)
    return errors


async def test_no_url_email_or_phone_in_log_lines_or_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    app = Starlette(routes=[Route(HOOK_PATH, rec.handle, methods=["POST"])])
    dead = f"http://127.0.0.1:{free_port()}"
    hooks = webhook_client(NotificationSettings(env="dev"))
    async with serve(app) as base, hooks as client, httpx.AsyncClient() as provider:
        for name in ("httpx", "httpcore", "aiohttp"):  # even if someone turns the HTTP libraries up to DEBUG
            caplog.set_level(logging.DEBUG, logger=name)
        errors = await _send_and_log_failures(base, dead, client, provider)
    assert len(rec.requests) == 1 and len(errors) == 4
    assert all(r.exc_text or r.exc_info for r in caplog.records if r.getMessage() == "delivery failed")
    assert any(r.name.startswith(("httpx", "httpcore")) for r in caplog.records)  # they did log, masked
    ours = [r for r in caplog.records if not r.name.startswith("uvicorn")]  # not the test's receiver's access log
    text = "\n".join(logging.Formatter("%(name)s %(message)s").format(r) for r in ours)  # tracebacks included
    for detail in (HOOK_PATH, "team-7f3a9c", base.removeprefix("http://"), dead.removeprefix("http://")):
        assert detail not in text, detail
    for detail in (EMAIL, "dana.whitfield", PHONE, "5550199"):
        assert detail not in text, detail
    assert all(str(e) and HOOK_PATH not in str(e) and EMAIL not in str(e) for e in errors)


def test_a_logged_traceback_is_masked_by_the_service_filter() -> None:
    def fail() -> None:
        raise RuntimeError(f"POST https://pager.example.org{HOOK_PATH} for {EMAIL} at {PHONE}")

    try:
        fail()
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "Traceback" in text and "RuntimeError" in text
    assert HOOK_PATH not in text and "pager.example.org" not in text and EMAIL not in text and PHONE not in text


def test_http_client_loggers_are_quiet_and_masked() -> None:
    quiet_http_clients()
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("httpcore.connection").getEffectiveLevel() == logging.WARNING
    record = logging.LogRecord(
        "httpcore.connection",
        logging.DEBUG,
        __file__,
        1,
        "connect_tcp.started host=%r port=%d",
        ("hooks.x.org", 1),
        None,
    )
    assert logging.getLogger("httpcore.connection").filter(record)
    assert "hooks.x.org" not in record.getMessage()
