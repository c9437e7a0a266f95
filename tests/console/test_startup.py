"""The dev identity provider never runs outside PSP_ENV=dev; the console refuses sign-in settings that cannot
work (one line naming the variable, exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys

STRONG = "s" * 48


def run(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PSP_")}
    return subprocess.run([sys.executable, "-m", module], env=clean | env, capture_output=True, text=True, timeout=60)


def test_the_dev_identity_provider_refuses_production() -> None:
    proc = run(
        "psp_console.devidp",
        PSP_ENV="production",
        PSP_PSEUDONYM_KEY=STRONG,
        PSP_REFERENCE_KEY=STRONG + "r",
        PSP_AUTH_JWT_SECRET=STRONG + "j",
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "devidp: refusing to start: PSP_ENV is not dev: the demo identity provider signs anyone in as a coordinator; "
        "use the hospital's identity provider (PSP_CONSOLE_OIDC_ISSUER, PSP_AUTH_OIDC_ISSUER)"
    ]


def test_the_console_needs_an_issuer_and_https_in_production() -> None:
    proc = run(
        "psp_console",
        PSP_ENV="production",
        PSP_PSEUDONYM_KEY=STRONG,
        PSP_REFERENCE_KEY=STRONG + "r",
        PSP_AUTH_OIDC_ISSUER="https://idp.hospital.example",
        PSP_CONSOLE_OIDC_SCOPES="profile",
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "console: refusing to start: PSP_CONSOLE_OIDC_ISSUER is not set; point it at the hospital's OpenID Connect "
        "provider",
        "console: refusing to start: PSP_CONSOLE_PUBLIC_URL must be an https URL in production (cookies are Secure)",
        "console: refusing to start: PSP_CONSOLE_OIDC_SCOPES must include openid",
    ]
