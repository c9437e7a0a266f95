"""make run / the dev stack pass every PSP_* setting to the services; dev defaults apply only where unset."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from psp_common.devrun import LINKS_FILE, banner_lines, dev_defaults
from psp_common.kafka import FetchPacer
from psp_common.stack import APPS, SERVICES, ServiceProcess, Stack
from psp_notification.settings import NotificationSettings


def stack(tmp_path: Path, **kw: object) -> Stack:
    s = Stack(
        workdir=tmp_path,
        database_urls={n: f"sqlite+aiosqlite:///{tmp_path}/{n}.db" for n in SERVICES},
        bootstrap="127.0.0.1:9",
        **kw,  # type: ignore[arg-type]
    )
    for i, name in enumerate(SERVICES):
        s.services[name] = ServiceProcess(name, 18100 + i, s.database_urls[name], tmp_path / f"{name}.log")
    return s


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> NotificationSettings:
    for key in [k for k in os.environ if k.startswith("PSP_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("PSP_"):
            monkeypatch.setenv(key, value)
    return NotificationSettings()


def test_a_psp_setting_of_the_caller_reaches_the_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSP_ACK_WINDOW_MINUTES", "1")
    env = stack(tmp_path).env_for("notification")
    assert env["PSP_ACK_WINDOW_MINUTES"] == "1"
    assert settings_from(env, monkeypatch).ack_window_minutes == 1


def test_dev_defaults_apply_only_where_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PSP_ENV")
    monkeypatch.delenv("PSP_KAFKA_FETCH_MAX_WAIT_MS", raising=False)
    for name in ("PSP_KAFKA_FETCH_MIN_BYTES", "PSP_KAFKA_IDLE_AFTER_MS", "PSP_KAFKA_IDLE_FETCH_MAX_WAIT_MS"):
        monkeypatch.delenv(name, raising=False)
    env = stack(tmp_path).env_for("rules")
    assert env["PSP_ENV"] == "dev" and env["PSP_KAFKA_FETCH_MAX_WAIT_MS"] == "100"
    dev = settings_from(env, monkeypatch)
    assert (dev.kafka_fetch_min_bytes, dev.kafka_idle_after_ms) == (4096, 300)
    assert FetchPacer.from_settings(dev).doze_ms == 2000  # an idle subscriber's look without a ring: still 2 s
    monkeypatch.setenv("PSP_ENV", "production")
    monkeypatch.setenv("PSP_KAFKA_FETCH_MAX_WAIT_MS", "250")
    env = stack(tmp_path).env_for("rules")
    assert env["PSP_ENV"] == "production" and env["PSP_KAFKA_FETCH_MAX_WAIT_MS"] == "250"


def test_what_the_stack_decides_per_service_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSP_DATABASE_URL", "postgresql+asyncpg://elsewhere/db")
    monkeypatch.setenv("PSP_HTTP_PORT", "9999")
    monkeypatch.setenv("PSP_SERVICE_NAME", "one-name-for-all")
    s = stack(tmp_path, extra_env={"PSP_ACK_WINDOW_MINUTES": "7"})
    monkeypatch.setenv("PSP_ACK_WINDOW_MINUTES", "1")
    env = s.env_for("matching")
    assert env["PSP_DATABASE_URL"] == s.database_urls["matching"]
    assert env["PSP_HTTP_PORT"] == str(s.services["matching"].port)
    assert env["PSP_KAFKA_BOOTSTRAP"] == "127.0.0.1:9"
    assert "PSP_SERVICE_NAME" not in env
    assert env["PSP_ACK_WINDOW_MINUTES"] == "7"  # extra_env (a test's explicit choice) over the caller's


async def test_a_started_service_reads_the_callers_setting(
    kafka_bootstrap: str, kafka_idempotence: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real start: the caller's out-of-range PSP_ACK_WINDOW_MINUTES reaches the process, which refuses it."""
    monkeypatch.setenv("PSP_ACK_WINDOW_MINUTES", "0")
    s = Stack(
        workdir=tmp_path,
        database_urls={n: f"sqlite+aiosqlite:///{tmp_path}/{n}.db" for n in SERVICES},
        bootstrap=kafka_bootstrap,
        idempotence=kafka_idempotence,
    )
    s.start(names=("notification",))
    try:
        assert s.wait_exit("notification", timeout=60) == 2
    finally:
        s.stop()
    log = (tmp_path / "notification.log").read_text()
    assert "refusing to start: PSP_ACK_WINDOW_MINUTES: Input should be greater than 0" in log


def test_make_run_tokens_stay_within_the_configured_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSP_AUTH_MAX_TOKEN_LIFETIME_S", "3600")
    env: dict[str, str] = {}
    dev_defaults(env)
    assert env == {"PSP_ENV": "dev", "PSP_DEVIDP_TOKEN_TTL_S": "3600"}
    env = {"PSP_ENV": "production", "PSP_DEVIDP_TOKEN_TTL_S": "60"}
    dev_defaults(env)
    assert env == {"PSP_ENV": "production", "PSP_DEVIDP_TOKEN_TTL_S": "60"}  # the caller's choice stands


def test_with_the_dev_sign_in_every_process_trusts_it_and_the_console_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSP_AUTH_OIDC_ISSUER", "https://elsewhere.example")
    s = stack(tmp_path, apps=APPS)
    for i, name in enumerate(APPS):
        s.services[name] = ServiceProcess(name, 18200 + i, "", tmp_path / f"{name}.log")
    idp, console = s.url("devidp"), s.url("console")
    for name in (*SERVICES, "console"):
        assert s.env_for(name)["PSP_AUTH_OIDC_ISSUER"] == idp
    env = s.env_for("console")
    assert env["PSP_CONSOLE_OIDC_ISSUER"] == idp and env["PSP_CONSOLE_PUBLIC_URL"] == console
    assert env["PSP_MATCHING_URL"] == s.url("matching")
    assert s.env_for("devidp")["PSP_DEVIDP_ISSUER"] == idp
    assert "PSP_CONSOLE_OIDC_ISSUER" not in stack(tmp_path).env_for("rules")  # without the apps: as before


BROWSER_PATHS = re.compile(r"^(/|/board|/rules|/safety-calls|/docs|/asyncapi\.json)?$")


def test_make_run_prints_as_links_only_what_opens_in_a_browser_without_a_token(tmp_path: Path) -> None:
    s = stack(tmp_path, apps=APPS)
    for i, name in enumerate(APPS):
        s.services[name] = ServiceProcess(name, 18200 + i, "", tmp_path / f"{name}.log")
    page = f"{s.url('notification')}/v1/pages/tok3n/ack"
    (tmp_path / LINKS_FILE).write_text(f"a-1 ack {page}\na-1 decline {page[:-4]}/decline\n", encoding="utf-8")
    lines = banner_lines(s, [{"assignment_id": "a-1", "state": "sent"}], "the.token")
    text = "\n".join(lines)
    assert f"Console           {s.url('console')}   <- open this in a browser" in text  # first, with the sign-ins
    assert text.index(s.url("console")) < text.index(s.url("listener")) and "Casey Demo" in text
    from psp_console.devidp.accounts import ACCOUNTS

    assert all(a.name in text for a in ACCOUNTS.values()), "every demo sign-in the dev provider offers is printed"
    links: list[str] = []
    for line in lines:
        urls = re.findall(r"https?://[^\s)]+", line)
        if line.strip().startswith("curl "):  # an API call: only with the token, never as a link
            assert line.strip().startswith('curl -H "Authorization: Bearer $PSP_TOKEN" http'), line
            continue
        links += urls
    assert page in links and "export PSP_TOKEN=the.token" in text
    for url in links:
        base, path = re.match(r"(http://127\.0\.0\.1:\d+)(.*)", url).groups()  # type: ignore[union-attr]
        if url == page:
            continue
        assert base == s.url("console") or base in {s.url(n) for n in SERVICES}, url
        assert BROWSER_PATHS.match(path) and (path in ("/docs", "/asyncapi.json") or base == s.url("console")), url
    for service, path in (("matching", "/v1/assignments"), ("rules", "/v1/rulesets")):  # still shown, with curl
        assert f'curl -H "Authorization: Bearer $PSP_TOKEN" {s.url(service)}{path}' in text
