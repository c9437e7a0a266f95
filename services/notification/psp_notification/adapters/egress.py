"""Outbound HTTP to addresses people registered: resolved at connect time, checked, and connected to as checked.

``GuardedClient`` sends through an aiohttp session whose connector resolves every host name with
``GuardedResolver``: it refuses the connection when any address the name resolves to is loopback, private,
link-local, metadata, multicast or reserved (unless the host is allow-listed), and hands the connector only the
checked addresses. There is no second lookup a rebinding DNS server could answer differently. An IP literal
(which the connector does not resolve) is checked by the same rules before the request. Connections are kept
alive per host name (a connection verified for one name is never reused for another that shares its address),
for at most ``keep_hosts`` names; further names get a connection per request. Refusals raise ``AddressRefused``
whose message names the rule only.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from yarl import URL

from psp_notification.domain.addresses import address_problem, literal_ip, url_problem
from psp_notification.settings import NotificationSettings

Resolver = Callable[[str, int], Awaitable[list[str]]]
PER_HOST = 16  # connections per host name, all kept alive
KEEPALIVE_S = 5.0
_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


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

    def check(self, host: str, found: list[str]) -> None:
        """Refuse ``host`` unless it resolved and every address it resolved to may be called."""
        if not found:
            raise AddressRefused("host name does not resolve")
        if self.allows_private(host):
            return
        for address in found:
            ip = literal_ip(address)
            reason = address_problem(ip) if ip is not None else "unparsable address"
            if reason is not None:
                raise AddressRefused(f"address resolves to a {reason}")


class GuardedResolver(AbstractResolver):
    """The connector's resolver: a host name's addresses, all checked, or ``AddressRefused``."""

    def __init__(self, policy: EgressPolicy, lookup: Resolver = resolve) -> None:
        self._policy, self._lookup = policy, lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Look ``host`` up once; refuse it if any address is inward; else every (checked) address."""
        try:
            found = list(dict.fromkeys(await self._lookup(host, port)))
        except OSError:
            raise AddressRefused("host name does not resolve") from None
        self._policy.check(host, found)
        return [_result(host, address, port) for address in found]

    async def close(self) -> None:
        """Nothing to release."""


def _result(host: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return {"hostname": host, "host": address, "port": port, "family": family, "proto": 0, "flags": _NUMERIC}


class GuardedClient:
    """POSTs to registered addresses through connectors that resolve with ``GuardedResolver`` (no redirects, no
    cookies, no proxy from the environment, TLS verified against the host name)."""

    def __init__(
        self, policy: EgressPolicy, resolver: Resolver = resolve, *, timeout_s: float = 10.0, keep_hosts: int = 64
    ) -> None:
        self._policy, self._resolver, self._keep_hosts = policy, GuardedResolver(policy, resolver), keep_hosts
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s
        )  # each step; the channel's overall deadline bounds the whole
        self._kept: set[tuple[str, str, int | None]] = set()
        self._sessions: dict[bool, aiohttp.ClientSession] = {}  # keep-alive, and a connection per request

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], max_body: int) -> int:
        """Send ``body``; read at most ``max_body`` bytes of the answer; return its status (3xx not followed)."""
        target = self._checked(url)
        name = (target.scheme, (target.raw_host or "").lower(), target.port)
        session = self._session(self._keeps(name))
        async with session.post(target, data=body, headers=headers, allow_redirects=False) as resp:
            read = 0
            while read < max_body:  # only the status matters; the rest of an answer is never pulled
                chunk = await resp.content.readany()
                if not chunk:
                    break
                read += len(chunk)
            return resp.status

    def _checked(self, url: str) -> URL:
        """The URL's form, and an IP literal's address (the connector resolves only names)."""
        try:
            target = URL(url)
        except (ValueError, TypeError):
            raise AddressRefused("address must be a valid URL") from None
        reason = url_problem(str(target), https_only=self._policy.production)
        if reason is not None:
            raise AddressRefused(reason)
        host = target.raw_host or ""
        if is_ip_address(host):
            ip = literal_ip(host)
            if ip is None:
                raise AddressRefused("address must be a valid URL")
            self._policy.check(host, [str(ip)])
        return target

    def _keeps(self, name: tuple[str, str, int | None]) -> bool:
        """Whether this host name's connections are kept alive (the first ``keep_hosts`` names are)."""
        if name not in self._kept and len(self._kept) < self._keep_hosts:
            self._kept.add(name)
        return name in self._kept

    def _session(self, keep: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(keep)
        if session is None:
            connector = aiohttp.TCPConnector(
                resolver=self._resolver,
                use_dns_cache=False,  # every new connection resolves, and so is checked
                limit=0,
                limit_per_host=PER_HOST,
                force_close=not keep,
                keepalive_timeout=KEEPALIVE_S if keep else None,
            )
            session = self._sessions[keep] = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
            )
        return session

    async def aclose(self) -> None:
        """Close the sessions and their connections."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
