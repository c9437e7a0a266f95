"""Run the four services as separate processes over one broker (make run, end-to-end tests, benchmarks)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from psp_common import topics
from psp_common.embedded import EmbeddedBroker, free_port
from psp_common.kafka import ensure_topics

SERVICES: tuple[str, ...] = ("listener", "rules", "matching", "notification")
"""The pipeline: Kafka services, each with its own database."""
APPS: tuple[str, ...] = ("devidp", "console")
"""Web apps a stack may add (make run, browser tests): the dev identity provider, then the console."""
MODULES: dict[str, str] = {"devidp": "psp_console.devidp", "console": "psp_console"}
"""The module a process runs (``python -m``), when not ``psp_<name>``."""
DEV_DEFAULTS: dict[str, str] = {
    "PSP_ENV": "dev",  # the packaged dev secrets are fine here; production refuses them
    # Tansu answers a waiting fetch only at fixed points of its wait and lists the partition's batches for each
    # fetch: 100 ms for 4 KB while records flow (was 50 ms: at 200 reports/s batches of 8 instead of 12, a third
    # more transactions and fetches, and a machine near saturation: p99 of two runs 252-671 ms against 234-343 ms
    # at 80 and 250 at 100), the fetch after a doze asking for 1 byte so a trickle is not held; a subscriber dozes
    # on the doorbell after 300 ms without records (was 2 s of 20 ms polls between bursts), its safety-net look
    # still every 2 s (the doze is the longer of the idle wait and idle_after).
    "PSP_KAFKA_FETCH_MAX_WAIT_MS": "100",
    "PSP_KAFKA_FETCH_MIN_BYTES": "4096",
    "PSP_KAFKA_IDLE_AFTER_MS": "300",
    "PSP_KAFKA_IDLE_FETCH_MAX_WAIT_MS": "2000",
    "PSP_HTTP_HOST": "127.0.0.1",
}
"""Settings a dev stack uses unless the environment sets them."""


def _run_blocking(fn: Callable[[], object]) -> None:
    """Run ``fn`` in a worker thread (so it may call asyncio.run even from inside a running loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn).result()


@dataclass
class ServiceProcess:
    """One service process and how to reach it."""

    name: str
    port: int
    database_url: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """Broker plus the four services; each service gets its own database."""

    workdir: Path
    database_urls: dict[str, str]
    bootstrap: str | None = None
    idempotence: bool = False
    ports: dict[str, int] = field(default_factory=dict)
    apps: tuple[str, ...] = ()  # of APPS: with "devidp", every service trusts its tokens (PSP_AUTH_OIDC_ISSUER)
    extra_env: dict[str, str] = field(default_factory=dict)
    partitions: int = 3
    doorbell: bool | None = None  # PSP_KAFKA_DOORBELL_DIR for the services; None: only with its own (Tansu) broker
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    broker: EmbeddedBroker | None = None
    _topics_ready: bool = False

    def start_broker(self) -> str:
        """Start the embedded broker unless an address was given; create all topics."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.bootstrap is None:
            self.broker = EmbeddedBroker(log_path=self.workdir / "broker.log").start()
            self.bootstrap = self.broker.bootstrap
        bootstrap = self.bootstrap
        _run_blocking(lambda: asyncio.run(ensure_topics(bootstrap, topics.ALL_TOPICS, self.partitions, 1)))
        self._topics_ready = True
        return self.bootstrap

    def env_for(self, name: str) -> dict[str, str]:
        """Environment of one service process.

        Every ``PSP_*`` variable of this process passes through; the dev defaults (``DEV_DEFAULTS``) apply only
        where unset. What the stack itself decides (its broker, each service's database, port and the other
        services' URLs) always wins, and ``extra_env`` over everything.
        """
        svc = self.services[name]
        env = {**DEV_DEFAULTS, **os.environ}
        env.pop("PSP_SERVICE_NAME", None)  # each service names itself
        env.update(
            {
                "PSP_KAFKA_BOOTSTRAP": self.bootstrap or "",
                "PSP_KAFKA_IDEMPOTENCE": "true" if self.idempotence else "false",
                "PSP_KAFKA_PARTITIONS": str(self.partitions),
                "PSP_DATABASE_URL": svc.database_url,
                "PSP_HTTP_PORT": str(svc.port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        for other in self.services.values():
            env[f"PSP_{other.name.upper()}_URL"] = other.url
        bell = self.doorbell_dir()
        if bell is not None:
            env["PSP_KAFKA_DOORBELL_DIR"] = str(bell)
        if name == "notification":  # page links must reach this process, whatever port it got
            env["PSP_PUBLIC_BASE_URL"] = svc.url
        env.update(self._sign_in_env())
        env.update(self.extra_env)
        return env

    def doorbell_dir(self) -> Path | None:
        """The doorbell directory the services share (see kafka.doorbell), or None when they have none: by default
        only with the stack's own (Tansu) broker; ``doorbell`` True gives them one on a broker it was given."""
        if self.doorbell or (self.doorbell is None and self.broker is not None):
            return self.workdir / "bell"
        return None

    def _sign_in_env(self) -> dict[str, str]:
        """With the dev identity provider: its issuer for the services' token checks and the console's sign-in."""
        if "devidp" not in self.services:
            return {}
        issuer = self.services["devidp"].url
        env = {"PSP_AUTH_OIDC_ISSUER": issuer, "PSP_DEVIDP_ISSUER": issuer, "PSP_CONSOLE_OIDC_ISSUER": issuer}
        if "console" in self.services:
            env["PSP_CONSOLE_PUBLIC_URL"] = self.services["console"].url
        return env

    def start(self, names: tuple[str, ...] | None = None) -> None:
        """Start the broker (if needed) and the named processes (default: the services and the stack's apps).

        The dev identity provider starts first and is waited for: the services fetch its keys as they start.
        """
        if self.bootstrap is None or (self.broker is None and not self.services):
            self.start_broker()
        for name in SERVICES + self.apps:
            if name not in self.services:
                self.services[name] = ServiceProcess(
                    name,
                    self.ports.get(name) or free_port(),
                    self.database_urls.get(name, ""),
                    self.workdir / f"{name}.log",
                )
        names = SERVICES + self.apps if names is None else names
        if "devidp" in names:
            self.spawn("devidp")
            self._wait_up("devidp")
        for name in names:
            if name != "devidp":
                self.spawn(name)

    def _wait_up(self, name: str, timeout: float = 30.0) -> None:
        svc = self.services[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if svc.proc is not None and svc.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {svc.proc.returncode}; see {svc.log_path}")
            try:
                if httpx.get(f"{svc.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{name} not up after {timeout}s; see {svc.log_path}")

    def spawn(self, name: str) -> None:
        """(Re)start one service process."""
        svc = self.services[name]
        log = open(svc.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        svc.proc = subprocess.Popen(
            [sys.executable, "-m", MODULES.get(name, f"psp_{name}")],
            env=self.env_for(name),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send a signal to one service (fault injection)."""
        proc = self.services[name].proc
        if proc and proc.poll() is None:
            proc.send_signal(sig)

    def wait_exit(self, name: str, timeout: float = 30.0) -> int | None:
        """Wait for a service process to exit."""
        proc = self.services[name].proc
        if proc is None:
            return None
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    async def wait_ready(self, timeout: float = 90.0, names: tuple[str, ...] | None = None) -> None:
        """Poll /readyz until every named process (default: the services and the stack's apps) answers 200."""
        names = SERVICES + self.apps if names is None else names
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            for name in names:
                svc = self.services[name]
                while True:
                    if svc.proc is not None and svc.proc.poll() is not None:
                        tail = svc.log_path.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"{name} exited with {svc.proc.returncode}:\n{tail}")
                    try:
                        if (await client.get(f"{svc.url}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} not ready after {timeout}s; see {svc.log_path}")
                    await asyncio.sleep(0.3)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every service, wait, then stop the broker."""
        for svc in self.services.values():
            if svc.proc and svc.proc.poll() is None:
                svc.proc.send_signal(signal.SIGTERM)
        for name in self.services:
            self.wait_exit(name, timeout)
        if self.broker is not None:
            self.broker.stop()

    def url(self, name: str) -> str:
        """Base URL of a service."""
        return self.services[name].url
