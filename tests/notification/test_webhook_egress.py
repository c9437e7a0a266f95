"""Outbound webhooks cannot be aimed inward: production sends only over https to public addresses (checked
after resolving, and connected to as checked), an allow-list admits named internal hosts, redirects are not
followed and at most a capped part of an answer is read. Registration refuses the same addresses."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Route

from psp_notification import consumed
from psp_notification.adapters.channels import TransportError
from psp_notification.adapters.egress import AddressRefused, EgressPolicy, GuardedClient, GuardedResolver
from psp_notification.adapters.webhook import WebhookChannel
from psp_notification.bootstrap import webhook_client
from psp_notification.domain.addresses import address_problem, literal_ip
from psp_notification.settings import NotificationSettings
from tests.notification.raw_servers import endless_body, hello_only, keep_answering, raw_server
from tests.notification.support import app_env, matched
from tests.notification.test_channels_real import MESSAGE, SECRET, Recorder, serve

PRODUCTION = NotificationSettings(env="production")


async def refused(client: GuardedClient, url: str) -> TransportError:
    """Send to ``url``; return the (permanent) error; it must come at once, without a network attempt."""
    channel = WebhookChannel(client, SECRET, retries=2, backoff_s=5)  # a retry would blow the time bound
    async with asyncio.timeout(2):
        with pytest.raises(TransportError) as err:
            await channel.notify(MESSAGE, url)
    assert err.value.permanent, str(err.value)
    return err.value


async def test_production_refuses_http_and_inward_addresses_without_connecting() -> None:
    async with raw_server(hello_only) as listener, webhook_client(PRODUCTION) as client:
        port = listener.port
        assert "https" in str(await refused(client, f"http://127.0.0.1:{port}/hook"))
        assert "https" in str(await refused(client, f"http://hooks.example.com:{port}/hook"))
        assert "loopback" in str(await refused(client, f"https://127.0.0.1:{port}/hook"))
        assert "loopback" in str(await refused(client, f"https://[::1]:{port}/hook"))
        assert "loopback" in str(await refused(client, f"https://localhost:{port}/hook"))  # resolves to loopback
        assert "loopback" in str(await refused(client, f"https://[::ffff:127.0.0.1]:{port}/hook"))
        assert "private" in str(await refused(client, "https://10.1.2.3/hook"))
        assert "private" in str(await refused(client, "https://192.168.1.20/hook"))
        assert "private" in str(await refused(client, "https://172.16.0.9/hook"))
        assert "metadata" in str(await refused(client, "https://169.254.169.254/latest/meta-data/"))
        assert "metadata" in str(await refused(client, "https://[fd00:ec2::254]/latest/meta-data/"))
        assert "link-local" in str(await refused(client, "https://169.254.10.10/hook"))
        assert "reserved" in str(await refused(client, "https://0.0.0.0/hook"))
        assert "credentials" in str(await refused(client, "https://user:pw@hooks.example.com/hook"))
    assert listener.opened == []  # not one connection reached the loopback listener


def test_every_kind_of_inward_address_is_named() -> None:
    def why(address: str) -> str | None:
        ip = literal_ip(address)
        assert ip is not None
        return address_problem(ip)

    assert why("93.184.216.34") is None and why("2606:4700::1") is None  # public
    assert why("100.64.0.1") == "non-public address"  # carrier-grade NAT
    assert why("224.0.0.1") == "multicast address"
    assert why("fe80::1") == "link-local address"
    assert why("64:ff9b::7f00:1") == "loopback address"  # NAT64 of 127.0.0.1
    assert why("2002:a00:1::1") == "private address"  # 6to4 of 10.0.0.1


async def test_a_name_resolving_to_any_inward_address_is_refused_and_resolved_once() -> None:
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["93.184.216.34", "127.0.0.1"]  # one public answer is not enough

    async with GuardedClient(EgressPolicy(production=True), resolver=rebinding) as client:
        assert "loopback" in str(await refused(client, "https://hooks.example.com/hook"))
    assert lookups == ["hooks.example.com"]


async def test_a_name_resolving_to_a_private_address_is_refused_by_the_connectors_resolver() -> None:
    """The check is the connection's own lookup: the resolver refuses the name, so nothing else resolves it again
    (a rebinding DNS server gets no second question) and no connection is made, even on a bare aiohttp session."""
    lookups: list[str] = []

    async def private(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["10.1.2.3"] if host == "hooks.example.com" else ["127.0.0.1"]

    resolver = GuardedResolver(EgressPolicy(production=True), private)
    with pytest.raises(AddressRefused, match="private address"):
        await resolver.resolve("hooks.example.com", 443)
    async with GuardedClient(EgressPolicy(production=True), resolver=private) as client:
        assert "private" in str(await refused(client, "https://hooks.example.com/hook"))
    assert lookups == ["hooks.example.com"] * 2  # once by hand, once when the client connected
    async with raw_server(hello_only) as listener:
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            with pytest.raises(AddressRefused, match="loopback address"):
                await session.post(f"https://pager.example.com:{listener.port}/hook", data=b"{}")
    assert listener.opened == [] and lookups[-1] == "pager.example.com"


async def test_the_resolver_gives_the_connector_only_checked_addresses_under_the_host_name() -> None:
    async def internal(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "127.0.0.1", "::1"]

    allowed = GuardedResolver(EgressPolicy(production=True, allow_hosts=["pager.hospital.internal"]), internal)
    found = await allowed.resolve("pager.hospital.internal", 8443)
    assert [(r["hostname"], r["host"], r["port"]) for r in found] == [
        ("pager.hospital.internal", "127.0.0.1", 8443),
        ("pager.hospital.internal", "::1", 8443),
    ]


async def test_an_allow_listed_host_may_be_internal_and_is_called_at_the_checked_address() -> None:
    async def internal(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # the name exists in no real DNS: a connection proves the checked address was used

    async with raw_server(hello_only) as listener:
        url = f"https://pager.hospital.internal:{listener.port}/hook"
        async with GuardedClient(EgressPolicy(production=True), resolver=internal) as client:
            assert "loopback" in str(await refused(client, url))
        assert listener.opened == []

        allowed = EgressPolicy(production=True, allow_hosts=["Pager.Hospital.Internal"])
        async with GuardedClient(allowed, resolver=internal) as client:
            with pytest.raises(TransportError, match="network error") as err:  # the listener is no TLS server
                await WebhookChannel(client, SECRET, retries=0, backoff_s=0).notify(MESSAGE, url)
        assert not err.value.permanent
    assert len(listener.opened) == 1
    assert b"pager.hospital.internal" in listener.first_bytes[0]  # TLS server name is the host, not the IP


async def test_connections_are_kept_per_host_name_and_never_shared_between_names() -> None:
    async def local(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # every name at one address: only the name tells the pools apart

    client = GuardedClient(EgressPolicy(production=False), resolver=local, keep_hosts=2)
    async with raw_server(keep_answering) as listener, client:
        channel = WebhookChannel(client, SECRET, retries=0, backoff_s=0)
        for _ in range(3):
            await channel.notify(MESSAGE, f"http://a.hooks.test:{listener.port}/hook")
        assert len(listener.opened) == 1  # three pages, one connection
        await channel.notify(MESSAGE, f"http://b.hooks.test:{listener.port}/hook")
        assert len(listener.opened) == 2  # the same address under another name: a connection of its own
        for _ in range(2):  # a third name with no pool left: a connection per request
            await channel.notify(MESSAGE, f"http://c.hooks.test:{listener.port}/hook")
        assert len(listener.opened) == 4
    hosts = [b.split(b"\r\nhost: ", 1)[1].split(b"\r\n", 1)[0] for b in (h.lower() for h in listener.first_bytes)]
    assert (
        hosts
        == [b"a.hooks.test:%d" % listener.port] * 3
        + [b"b.hooks.test:%d" % listener.port]
        + [b"c.hooks.test:%d" % listener.port] * 2
    )


async def test_redirects_are_not_followed() -> None:
    target = Recorder()
    app = Starlette(
        routes=[
            Route("/hook", lambda request: RedirectResponse("/inside", status_code=307), methods=["POST"]),
            Route("/inside", target.handle, methods=["POST"]),
        ]
    )
    async with serve(app) as base, webhook_client(NotificationSettings(env="dev")) as client:
        channel = WebhookChannel(client, SECRET, retries=3, backoff_s=0)
        with pytest.raises(TransportError, match="HTTP 307") as err:
            await channel.notify(MESSAGE, f"{base}/hook")
    assert err.value.permanent and target.requests == []


async def test_an_endless_answer_is_read_only_up_to_the_cap() -> None:
    async with raw_server(endless_body) as server, webhook_client(NotificationSettings(env="dev")) as client:
        channel = WebhookChannel(client, SECRET, retries=0, backoff_s=0, max_body_bytes=100_000)
        start = time.monotonic()
        async with asyncio.timeout(5):
            await channel.notify(MESSAGE, f"{server.url}/hook")  # a 200: the status is all that matters
        assert time.monotonic() - start < 5
        async with asyncio.timeout(5):
            while not server.closed:
                await asyncio.sleep(0.05)
    assert server.written < 64 * 1024 * 1024  # the rest was never pulled (the kernel buffers a few MB at most)


async def test_a_refused_address_fails_the_page_at_once_and_pages_the_next_backup(sqlite_url: str) -> None:
    async with app_env(sqlite_url, env="dev", send_max_attempts=5) as env:
        hooks = webhook_client(PRODUCTION)
        env.c.dispatcher.router.channels["webhook"] = WebhookChannel(hooks, SECRET, retries=2, backoff_s=0)
        try:
            r = await env.client.put(
                "/v1/contacts/E-1", json={"channels": [{"kind": "webhook", "address": "http://10.0.0.7/hook"}]}
            )
            assert r.status_code == 200  # dev registration; the production transport still refuses at send time
            ref = r.json()["staff_ref"]
            event = matched(primary=ref, backups=("ps_b",))
            await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
            await env.tick()
        finally:
            await hooks.aclose()
        first = (await env.pages())[0]
        assert first["state"] == "failed" and first["attempts"] == 1 and "https" in first["last_error"]
        assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_b"]  # the same tick


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("http://hooks.example.com/page", "https"),
        ("https://alice:secret@hooks.example.com/page", "credentials"),
        ("https://10.0.0.7/page", "private"),
        ("https://[::1]/page", "loopback"),
        ("https://169.254.169.254/page", "metadata"),
        ("https://hooks.exa mple.com/page", "valid URL"),
        ("https://hooks.example.com:99999/page", "valid URL"),
    ],
)
async def test_registration_refuses_what_production_would_not_call(sqlite_url: str, address: str, reason: str) -> None:
    async with app_env(sqlite_url, env="production") as env:
        body = {"channels": [{"kind": "console"}, {"kind": "webhook", "address": address}]}
        r = await env.client.put("/v1/contacts/E-1", json=body)
        assert r.status_code == 422, r.text
        assert reason in r.text and "channels" in r.text and address not in r.text
        ok = {"channels": [{"kind": "webhook", "address": "https://hooks.example.com/page"}]}
        assert (await env.client.put("/v1/contacts/E-1", json=ok)).status_code == 200


async def test_dev_registration_allows_local_http_but_never_credentials(sqlite_url: str) -> None:
    async with app_env(sqlite_url, env="dev") as env:
        local = {"channels": [{"kind": "webhook", "address": "http://127.0.0.1:9/page"}]}
        assert (await env.client.put("/v1/contacts/E-1", json=local)).status_code == 200
        creds = {"channels": [{"kind": "webhook", "address": "http://u:p@127.0.0.1:9/page"}]}
        r = await env.client.put("/v1/contacts/E-1", json=creds)
        assert r.status_code == 422 and "credentials" in r.text and "u:p" not in r.text
