"""The only place that wires the notification service's concrete adapters."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from fastapi import FastAPI

from psp_common import logs, topics
from psp_common.audit import install_audit
from psp_common.clock import Clock, SystemClock
from psp_common.events.feed import SafetyCallFeedPublished
from psp_common.events.status import OutreachStatusChanged
from psp_common.http import BodyLimit, install_error_handlers
from psp_common.kafka import document_publisher
from psp_common.pseudonym import Pseudonymizer
from psp_common.retention import Retention
from psp_common.runtime import Runtime, create_app, run
from psp_notification.adapters.channels import Channel, ChannelRouter, ConsoleChannel, EmailChannel, SmsChannel
from psp_notification.adapters.egress import EgressPolicy, GuardedClient
from psp_notification.adapters.orm import audit_log, metadata
from psp_notification.adapters.webhook import WebhookChannel
from psp_notification.dispatcher import Dispatcher
from psp_notification.entrypoints import (
    api,
    api_board,
    api_directory,
    api_encounters,
    api_self,
    consumers,
    pages,
    pages_actions,
    pages_case,
    scim,
)
from psp_notification.metrics import count_pages, watch_clocks
from psp_notification.retention import purge_closed
from psp_notification.settings import NotificationSettings

MIGRATIONS = Path(__file__).parent / "migrations"
AIOHTTP_LOGGERS = ("aiohttp.client", "aiohttp.internal")


class Closeable(Protocol):
    """An HTTP client closed at stop."""

    async def aclose(self) -> None:
        """Close its connections."""


@dataclass
class Container:
    """Everything a notification entrypoint needs."""

    runtime: Runtime
    pseudo: Pseudonymizer
    settings: NotificationSettings
    clock: Clock
    dispatcher: Dispatcher
    retention: Retention


def webhook_client(settings: NotificationSettings) -> GuardedClient:
    """The client of registered webhook addresses: guarded, no redirects, no proxy from the environment; the
    HTTP libraries' own log lines (they print URLs) quieted and masked."""
    logs.quiet_http_clients()
    for name in AIOHTTP_LOGGERS:  # a connector's error reprs can carry a host name
        logger = logging.getLogger(name)
        if not any(isinstance(f, logs.RedactingFilter) for f in logger.filters):
            logger.addFilter(logs.RedactingFilter(logs.redact_addresses))
    return GuardedClient(EgressPolicy.from_settings(settings), timeout_s=settings.webhook_timeout_s)


def default_channels(settings: NotificationSettings, clients: list[Closeable]) -> list[Channel]:
    """The four production channels (their HTTP clients appended to ``clients`` to be closed at stop)."""
    key = settings.sms_api_key.get_secret_value() if settings.sms_api_key else None
    hooks = webhook_client(settings)
    provider = httpx.AsyncClient(timeout=settings.webhook_timeout_s, follow_redirects=False)
    clients.extend([hooks, provider])
    return [
        WebhookChannel(
            hooks,
            settings.webhook_secret.get_secret_value().encode(),
            retries=settings.webhook_retries,
            backoff_s=settings.webhook_backoff_s,
            max_body_bytes=settings.webhook_max_response_bytes,
        ),
        EmailChannel(settings),
        SmsChannel(provider, settings.sms_api_url, key, settings.sms_sender),
        ConsoleChannel(links_file=settings.dev_links_file if settings.env == "dev" else None),
    ]


def channel_router(settings: NotificationSettings, channels: list[Channel]) -> ChannelRouter:
    """Each channel within its deadline; a page's channels together within half its lease."""
    return ChannelRouter(channels, deadline_s=settings.channel_send_deadline_s, budget_s=settings.send_lease_s / 2)


async def _close_on_stop(clients: list[Closeable]) -> None:
    """Park until the runtime stops (cancels background loops), then close the HTTP clients."""
    try:
        await asyncio.Event().wait()
    finally:
        for client in clients:
            await client.aclose()


def build(
    settings: NotificationSettings | None = None,
    *,
    clock: Clock | None = None,
    channels: list[Channel] | None = None,
) -> FastAPI:
    """Wire the notification service and return its ASGI app (clock and channels injectable for tests)."""
    settings = settings or NotificationSettings()
    clock = clock or SystemClock()
    runtime = Runtime(settings, metadata, MIGRATIONS)
    clients: list[Closeable] = []
    router = channel_router(settings, channels if channels is not None else default_channels(settings, clients))
    dispatcher = Dispatcher(runtime.uow, settings, clock, router)
    runtime.background.append(dispatcher.run)
    retention = Retention(
        runtime.uow,
        purge_closed,
        settings.retention_days,
        settings.retention_batch,
        settings.retention_poll_s,
        clock.now,
    )
    runtime.background.append(retention.run)
    runtime.background.append(lambda: _close_on_stop(clients))
    container = Container(runtime, Pseudonymizer.from_settings(settings), settings, clock, dispatcher, retention)
    consumers.register(container)
    document_publisher(
        runtime.broker,
        topics.OUTREACH_STATUS,
        OutreachStatusChanged,
        "Every outreach lifecycle change (pseudonymized, no contact details).",
    )
    document_publisher(
        runtime.broker,
        topics.SAFETY_CALL_FEED,
        SafetyCallFeedPublished,
        "Flagged events per facility for the morning and evening safety calls.",
    )
    app = create_app(
        runtime,
        "PSP Outreach notification",
        "Pages supporters, tracks acknowledgement, escalates, publishes status and safety-call feeds.",
    )
    app.state.container = container
    count_pages(runtime.metrics, router)
    watch_clocks(runtime.metrics, runtime.engine, clock)
    app.include_router(api.router)
    app.include_router(api_board.router)
    app.include_router(pages.router)
    app.include_router(pages_case.router)
    app.include_router(pages_actions.router)
    app.include_router(api_self.router)
    app.include_router(api_encounters.router)
    app.include_router(api_directory.router)
    scim.install(app)
    install_error_handlers(app)
    uploads = {"/v1/directory/import": settings.directory_max_body_bytes}
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, larger=uploads)
    app.add_middleware(pages.PrivateLinkHeaders)
    install_audit(app, runtime.engine, audit_log)  # outermost: 413s are audited too
    return app


def main() -> None:
    """Console entry point: refuses to start on bad settings or, in production, a known secret."""
    run(NotificationSettings, build)
