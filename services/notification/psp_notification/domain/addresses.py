"""Where a webhook may point: the URL's form, and which IP addresses a send may connect to (pure Python).

Checked twice: when a contact is registered (form) and at every send (the resolved address), because a
name that resolved to a public address yesterday may resolve to the metadata service today.
Reasons name the rule, never the address.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints (AWS, GCP, Azure, OpenStack on 169.254.169.254; AWS IPv6; Alibaba).
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def url_problem(url: str, *, https_only: bool) -> str | None:
    """Why ``url`` cannot be a webhook address (None when it can): scheme, host, no credentials."""
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "address must be a valid URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "address must be a valid URL"
    allowed = ("https",) if https_only else ("https", "http")
    if parts.scheme.lower() not in allowed:
        return "address must be an https URL" if https_only else "address must be an http(s) URL"
    if not parts.hostname:
        return "address must name a host"
    if parts.username is not None or parts.password is not None:
        return "address must not carry credentials"
    return None


def literal_ip(host: str) -> IPAddress | None:
    """The address if ``host`` is an IP literal (brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo:
        found.extend(ip.teredo)
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_problem(ip: IPAddress) -> str | None:
    """Why a send may not connect to ``ip`` (None when it may): only public unicast addresses."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_v4(ip):  # judged by the IPv4 address it carries
            reason = address_problem(inner)
            if reason:
                return reason
    if ip in METADATA:
        return "cloud metadata address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "reserved address"
    if ip.is_private:
        return "private address"
    if not ip.is_global:
        return "non-public address"
    return None
