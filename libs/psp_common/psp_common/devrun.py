"""``make run``: the whole pipeline on the embedded default (Tansu + SQLite) with demo data."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx

from psp_common import demo
from psp_common.auth import Scope
from psp_common.settings import ServiceSettings
from psp_common.stack import APPS, SERVICES, Stack

LINKS_FILE = "supporter-links.txt"  # dev only: the console channel's full page links (never a log line)
DEFAULT_PORTS = {
    "listener": 8001,
    "rules": 8002,
    "matching": 8003,
    "notification": 8004,
    "console": 8000,
    "devidp": 8005,
}
TOKEN_TTL_S = 12 * 3600
DEV_TOOLS_CLIENT = "psp-dev-tools"  # the dev identity provider's client-credentials client (psp_console.devidp)
DEMO_SIGN_INS = (
    ("Casey Demo", "coordinator: board, cases, roster, rules, audit"),
    ("Sam Demo", "peer supporter: their own assignments"),
    ("Alex Demo", "analyst: aggregate figures"),
    ("Jo Demo", "any staff member: refer yourself or a colleague"),
)


def token_ttl_s() -> int:
    """12 h, or less when PSP_AUTH_MAX_TOKEN_LIFETIME_S is lower (the services refuse longer-lived tokens)."""
    return min(TOKEN_TTL_S, int(ServiceSettings().auth_max_token_lifetime_s))


def dev_defaults(environ: MutableMapping[str, str]) -> None:
    """make run's defaults where the caller set nothing: dev mode; tokens as long-lived as the services accept.

    Every other ``PSP_*`` variable of the caller reaches the processes (``Stack.env_for``).
    """
    environ.setdefault("PSP_ENV", "dev")
    environ.setdefault("PSP_DEVIDP_TOKEN_TTL_S", str(token_ttl_s()))


def fetch_dev_token(issuer: str, scopes: list[str], subject: str = "dev-tools", staff_id: str | None = None) -> str:
    """A token from the dev identity provider by client credentials (dev tools only; it refuses to run elsewhere)."""
    form = {"grant_type": "client_credentials", "client_id": DEV_TOOLS_CLIENT, "scope": " ".join(scopes)}
    form |= {"sub": subject} | ({"staff_id": staff_id} if staff_id else {})
    response = httpx.post(issuer.rstrip("/") + "/token", data=form, timeout=10, trust_env=False)
    if response.status_code != 200:
        raise RuntimeError(f"the dev identity provider refused a token: HTTP {response.status_code} {response.text}")
    return str(response.json()["access_token"])


def coordinator_token(stack: Stack) -> str:
    """A coordinator token from the stack's dev identity provider (what make run loads the demo with)."""
    return fetch_dev_token(stack.url("devidp"), [Scope.COORDINATOR.value], "dev-coordinator")


async def load_demo(stack: Stack) -> None:
    """Register the roster, contacts and the demo staff directory, then send the demo reports."""
    headers = {"Authorization": f"Bearer {coordinator_token(stack)}"}
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:
        for s in demo.SUPPORTERS:
            r = await client.post(f"{stack.url('matching')}/v1/supporters", json=s)
            _check(r, "register supporter")
            r = await client.put(
                f"{stack.url('notification')}/v1/contacts/{s['staff_id']}",
                json={"channels": [{"kind": "console", "address": "console"}]},
            )
            _check(r, "register contact")
        r = await client.post(
            f"{stack.url('notification')}/v1/directory/import.csv",
            content=demo.DIRECTORY_CSV.encode(),
            headers={"content-type": "text/csv"},
        )
        _check(r, "load the demo staff directory")
        for rep in demo.reports():
            r = await client.post(f"{stack.url('listener')}/v1/occurrence-reports", json=rep)
            _check(r, "submit report")
            print(f"  report {rep['report_id']} ({rep['harm_level']}, {rep['unit']}): {r.json()['status']}")


def _check(r: httpx.Response, what: str) -> None:
    if r.status_code >= 400:
        raise RuntimeError(f"{what} failed: HTTP {r.status_code} {r.text[:300]}")


async def wait_deliveries(stack: Stack, expected: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait until the notification service has sent ``expected`` pages."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    items: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {coordinator_token(stack)}"}
    async with httpx.AsyncClient(timeout=5, headers=headers) as client:
        while loop.time() < deadline:
            r = await client.get(f"{stack.url('notification')}/v1/deliveries")
            if r.status_code == 200:
                body = r.json()
                items = body if isinstance(body, list) else body.get("items", [])
                if sum(1 for d in items if d.get("state") == "sent") >= expected:
                    break
            await asyncio.sleep(0.5)
    return items


def banner(stack: Stack, deliveries: list[dict[str, Any]]) -> None:
    """Print what happened and where to look (see :func:`banner_lines`)."""
    print("\n".join(banner_lines(stack, deliveries, coordinator_token(stack))))


def banner_lines(stack: Stack, deliveries: list[dict[str, Any]], token: str) -> list[str]:
    """The console first, then what else opens in a browser, then the APIs (curl only: they need a token).

    Every http URL shown as a link opens in a browser without a token: the console, the services' /docs and
    /asyncapi.json, the supporter page. An API URL appears only in a curl command carrying the token.
    """
    broker = (
        "the embedded default (Tansu broker" if stack.broker is not None else "an external broker (PSP_KAFKA_BOOTSTRAP"
    )
    console = stack.url("console")
    out = [f"\nPSP Outreach is running on {broker} + SQLite)."]
    out.append(f"\n  Console           {console}   <- open this in a browser")
    out.append("                    Sign in with a demo account (the built-in dev sign-in; production uses the")
    out.append("                    hospital's identity provider):")
    out += [f"                      {name:<11} {what}" for name, what in DEMO_SIGN_INS]
    for label, path in (("live board", "/board"), ("rules", "/rules"), ("safety calls", "/safety-calls")):
        out.append(f"                    {label:<13} {console}{path}   (coordinator)")
    out.append(f"\nPages delivered so far: {len(deliveries)}")
    for d in deliveries:
        out.append("   " + str({k: d.get(k) for k in ("assignment_id", "supporter_ref", "channel", "state") if k in d}))
    out.append("\nAlso in a browser:")
    link = first_supporter_link(stack.workdir / LINKS_FILE)
    if link:
        out.append(f"  supporter page    {link}")
        out.append(f"                    (a demo supporter's page, no sign-in needed; every link: {LINKS_FILE})")
    for name in SERVICES:
        out.append(f"  {name:<17} {stack.url(name)}/docs   (API reference; AsyncAPI: {stack.url(name)}/asyncapi.json)")
    out.append(f"  broker            {stack.bootstrap}  (Kafka protocol, not a web page)")
    out.append(f"  logs              {stack.workdir}/*.log  (pages are printed in notification.log)")
    hours = f"{token_ttl_s() / 3600:g} h"
    out.append(f"\nThe APIs need a bearer token (curl, not a browser). A coordinator token (valid {hours}):")
    out.append(f"  export PSP_TOKEN={token}")
    calls = (
        ("notification", "/v1/deliveries"),
        ("matching", "/v1/assignments"),
        ("rules", "/v1/rulesets"),
        ("notification", "/v1/safety-calls/GEN/$(date +%F)/morning"),
    )
    out += [f'  curl -H "Authorization: Bearer $PSP_TOKEN" {stack.url(s)}{path}' for s, path in calls]
    out.append("  other roles: uv run python -m psp_console.devidp.token --scope intake|supporter|analyst")
    out.append("\nCtrl-C stops everything.")
    return out


def first_supporter_link(path: Path) -> str | None:
    """The first acknowledge link the console channel wrote to ``path`` (dev only), if any."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    return next((parts[2] for line in lines if len(parts := line.split()) == 3 and parts[1] == "ack"), None)


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def main() -> None:
    """Start everything, load the demo, print a summary and wait for Ctrl-C."""
    workdir = Path(os.environ.get("PSP_RUN_DIR", ".run")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("*.db*"):
        old.unlink()
    urls = {n: f"sqlite+aiosqlite:///{workdir}/{n}.db" for n in (*SERVICES, "console")}
    ports = {n: int(os.environ.get(f"PSP_{n.upper()}_PORT", p)) for n, p in DEFAULT_PORTS.items()}
    taken = [f"{name} ({port})" for name, port in ports.items() if not port_free(port)]
    if taken:
        print(
            f"make run: ports already in use: {', '.join(taken)}. Stop what holds them, or choose others "
            "with PSP_LISTENER_PORT / PSP_RULES_PORT / PSP_MATCHING_PORT / PSP_NOTIFICATION_PORT / "
            "PSP_CONSOLE_PORT / PSP_DEVIDP_PORT.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    dev_defaults(os.environ)
    (workdir / LINKS_FILE).unlink(missing_ok=True)
    if os.environ["PSP_ENV"] == "dev":  # the page links are credentials: written to a file in dev only
        os.environ["PSP_DEV_LINKS_FILE"] = str(workdir / LINKS_FILE)
    external = os.environ.get("PSP_KAFKA_BOOTSTRAP")
    idempotence = os.environ.get("PSP_KAFKA_IDEMPOTENCE", "false").lower() in ("1", "true", "yes")
    stack = Stack(
        workdir=workdir, database_urls=urls, ports=ports, bootstrap=external, idempotence=idempotence, apps=APPS
    )
    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(
            f"Starting {'the broker at ' + external if external else 'the embedded broker'}, the dev sign-in, "
            "the four services and the console ..."
        )
        stack.start()
        asyncio.run(stack.wait_ready())
        print("Loading the demo roster and sending demo reports:")
        asyncio.run(load_demo(stack))
        deliveries = asyncio.run(wait_deliveries(stack, expected=3))  # DEMO-1: 1 clinician, DEMO-2: 2
        banner(stack, deliveries)
        if os.environ.get("PSP_RUN_ONCE") == "1":
            return
        while not stopping:
            signal.pause()
    except Exception as exc:
        print(f"make run failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    finally:
        print("\nStopping ...")
        stack.stop()
        print("Stopped.")


if __name__ == "__main__":
    main()
