"""Outbound HTTP to addresses people registered: resolved once, checked, and connected to at the checked address.

``GuardedTransport`` resolves the host, refuses the send when any resolved address is loopback, private,
link-local, metadata, multicast or reserved (unless the host is allow-listed), then sends to the checked
IP with the original ``Host`` header and TLS server name. There is no second lookup a rebinding DNS server
could answer differently. Connections are kept alive per host name (each name has its own pool, so a connection
verified for one name is never reused for another that shares its address), for at most ``keep_hosts`` names;
further names get a connection per request. Every request is checked before a connection is chosen. Refusals
raise ``AddressRefused`` whose message names the rule only.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from psp_notification.adapters.coalesce import coalesce_writes
from psp_notification.domain.addresses import address_problem, literal_ip, url_problem
from psp_notification.settings import NotificationSettings

Resolver = Callable[[str, int], Awaitable[list[str]]]
# Per host name. As many kept alive as open: httpcore closes an idle connection whenever the pool holds more
# connections than max_keepalive_connections (it counts busy ones too), so 32 open / 8 kept reconnected under load.
KEEP_ALIVE = httpx.Limits(max_connections=16, max_keepalive_connections=16, keepalive_expiry=5.0)


class AddressRefused(Exception):
    """The webhook address may not be called (the message names the rule, never the address)."""


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class EgressPolicy:
    """Production: https only and public addresses only, except for allow-listed host names."""

    production: bool = True
    allow_hosts: Collection[str] = ()

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> EgressPolicy:
        """``PSP_ENV`` and ``PSP_WEBHOOK_ALLOW_HOSTS``."""
        return cls(production=settings.env == "production", allow_hosts=tuple(settings.webhook_allow_hosts))

    def allows_private(self, host: str) -> bool:
        """Dev allows everything; production only the hosts listed (case-insensitive)."""
        return not self.production or host.lower().rstrip(".") in {h.lower().rstrip(".") for h in self.allow_hosts}

    def url_problem(self, url: str) -> str | None:
        """The registration-time check of a webhook URL (form, scheme, and a literal address if any)."""
        reason = url_problem(url, https_only=self.production)
        if reason is not None:
            return reason
        host = urlsplit(url).hostname or ""
        ip = literal_ip(host)
        if ip is not None and not self.allows_private(host):
            problem = address_problem(ip)
            return f"address must not point to a {problem}" if problem else None
        return None


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that pins each request to a checked address of its host."""

    def __init__(
        self, policy: EgressPolicy, resolver: Resolver = resolve, *, keep_hosts: int = 64, **kwargs: object
    ) -> None:
        kwargs.setdefault("trust_env", False)
        self._pool_kwargs = {**kwargs, "limits": kwargs.get("limits", KEEP_ALIVE)}
        super().__init__(**{**kwargs, "limits": httpx.Limits(max_keepalive_connections=0)})  # type: ignore[arg-type]
        coalesce_writes(self)
        self._policy, self._resolve, self._keep_hosts = policy, resolver, keep_hosts
        self._pools: dict[tuple[str, str, int], httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check the URL, resolve and check the host, send to the checked address."""
        reason = url_problem(str(request.url), https_only=self._policy.production)
        if reason is not None:
            raise AddressRefused(reason)
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        pinned = await self._checked_address(host, port)
        if pinned != host:
            request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=pinned)  # Host header was set from the original URL
        pool = self._pool_of((request.url.scheme, host.lower(), port))
        if pool is None:  # more names than pools: a connection of its own, closed after the answer
            return await super().handle_async_request(request)
        return await pool.handle_async_request(request)

    def _pool_of(self, name: tuple[str, str, int]) -> httpx.AsyncHTTPTransport | None:
        """The keep-alive pool of one host name (scheme and port too), made on first use while there is room."""
        pool = self._pools.get(name)
        if pool is None and len(self._pools) < self._keep_hosts:
            pool = self._pools[name] = httpx.AsyncHTTPTransport(**self._pool_kwargs)  # type: ignore[arg-type]
            coalesce_writes(pool)  # a request's head and body in one write
        return pool

    async def aclose(self) -> None:
        """Close every host's pool, then the transport."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
        await super().aclose()

    async def _checked_address(self, host: str, port: int) -> str:
        ip = literal_ip(host)
        try:
            found = [str(ip)] if ip is not None else await self._resolve(host, port)
        except OSError:
            raise AddressRefused("host name does not resolve") from None
        if not found:
            raise AddressRefused("host name does not resolve")
        if not self._policy.allows_private(host):
            for address in found:
                problem = literal_ip(address)
                reason = address_problem(problem) if problem is not None else "unparsable address"
                if reason is not None:
                    raise AddressRefused(f"address resolves to a {reason}")
        return found[0]
