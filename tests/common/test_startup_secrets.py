"""Production (PSP_ENV, the default) refuses to start with a packaged, empty or short secret; dev accepts them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from psp_common.settings import ServiceSettings
from psp_common.stack import Stack
from psp_common.startup import MIN_SECRET_BYTES, weak_secrets
from psp_notification.settings import NotificationSettings

STRONG = "q8Zt3vXk1pLw9sRb7nYc5mHd2fGj4aQe6uTo0iKy"  # 40 bytes, no placeholder marker
STRONG_ENV = {
    "PSP_PSEUDONYM_KEY": STRONG + "-pseudonym",
    "PSP_REFERENCE_KEY": STRONG + "-reference",
    "PSP_AUTH_JWT_SECRET": STRONG + "-jwt",
    "PSP_WEBHOOK_SECRET": STRONG + "-webhook",
}
SERVICE_SECRETS = {"PSP_PSEUDONYM_KEY", "PSP_REFERENCE_KEY", "PSP_AUTH_JWT_SECRET"}
NOTIFICATION_SECRETS = SERVICE_SECRETS | {"PSP_WEBHOOK_SECRET"}


def named(problems: list[str]) -> set[str]:
    return {p.split()[0] for p in problems}


def strong(**overrides: str) -> NotificationSettings:
    values = {k.removeprefix("PSP_").lower(): v for k, v in STRONG_ENV.items()}
    return NotificationSettings(env="production", **{**values, **overrides})


def test_production_is_the_default_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PSP_ENV")
    assert ServiceSettings().env == "production"


def test_production_refuses_every_packaged_secret_by_variable_name() -> None:
    assert named(weak_secrets(ServiceSettings(env="production"))) == SERVICE_SECRETS
    assert named(weak_secrets(NotificationSettings(env="production"))) == NOTIFICATION_SECRETS


def test_dev_accepts_the_packaged_secrets() -> None:
    assert weak_secrets(NotificationSettings(env="dev")) == []


def test_strong_secrets_pass_in_production() -> None:
    assert weak_secrets(strong()) == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("x" * (MIN_SECRET_BYTES - 1), f"is shorter than {MIN_SECRET_BYTES} bytes"),
        ("change-me-to-a-long-random-secret", "is a packaged dev value"),  # the old compose default
        ("dev-only-webhook-secret-change-me", "is a packaged dev value"),  # another field's dev value
    ],
)
def test_empty_short_and_placeholder_secrets_are_refused(value: str, reason: str) -> None:
    problems = weak_secrets(strong(pseudonym_key=value))
    assert len(problems) == 1 and problems[0].startswith(f"PSP_PSEUDONYM_KEY {reason};")
    assert value.strip() == "" or value not in problems[0]


def test_jwt_secret_is_not_checked_when_a_public_key_verifies_tokens() -> None:
    settings = strong(auth_jwt_secret="", auth_jwt_public_key="-----BEGIN PUBLIC KEY-----...")
    assert weak_secrets(settings) == []
    assert named(weak_secrets(strong(auth_jwt_secret=""))) == {"PSP_AUTH_JWT_SECRET"}


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSP_")}
    return {**env, "PSP_ENV": "production", **extra}


def test_service_process_exits_at_start_naming_each_packaged_secret() -> None:
    short = "too-short-secret-value"
    proc = subprocess.run(
        [sys.executable, "-m", "psp_notification"],
        env=_production_env(PSP_REFERENCE_KEY=short),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert all(line.startswith("notification: refusing to start: PSP_") for line in lines), lines
    assert {line.split()[4] for line in lines} == NOTIFICATION_SECRETS
    assert short not in proc.stderr and "dev-only" not in proc.stderr  # names the variable, never the value


def test_invalid_setting_is_one_line_naming_the_variable() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "psp_rules"],
        env=_production_env(PSP_ENV="staging"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "rules: refusing to start: PSP_ENV: Input should be 'production' or 'dev'"
    ]


async def test_service_with_strong_secrets_starts_in_production(
    kafka_bootstrap: str, kafka_idempotence: bool, tmp_path: Path
) -> None:
    stack = Stack(
        workdir=tmp_path,
        database_urls={
            n: f"sqlite+aiosqlite:///{tmp_path}/{n}.db" for n in ("listener", "rules", "matching", "notification")
        },
        bootstrap=kafka_bootstrap,
        idempotence=kafka_idempotence,
        extra_env={"PSP_ENV": "production", **STRONG_ENV},
    )
    stack.start(names=("notification",))
    try:
        await stack.wait_ready(timeout=90, names=("notification",))
    finally:
        stack.stop()
    assert "refusing to start" not in (tmp_path / "notification.log").read_text()


def test_production_refuses_a_packaged_or_short_previous_pseudonym_key() -> None:
    from pydantic import SecretStr

    old = {"k1": SecretStr("dev-only-pseudonym-key-change-me"), "k0": SecretStr("short")}
    problems = weak_secrets(strong(pseudonym_old_keys=old))  # type: ignore[arg-type]
    assert named(problems) == {"PSP_PSEUDONYM_OLD_KEYS:"} and len(problems) == 2
    assert "packaged dev value" in problems[0] and "shorter than" in problems[1]
    assert not any("dev-only-pseudonym" in p or "k0" in p or "k1" in p for p in problems)  # no value, no key id
    assert weak_secrets(strong(pseudonym_old_keys={"k1": SecretStr(STRONG + "-old")})) == []  # type: ignore[arg-type]
