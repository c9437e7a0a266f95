"""What every service checks before it starts: its settings parse, and in production no secret is a known value.

A secret is a settings field declared with :func:`psp_common.settings.secret`. In production (``PSP_ENV``,
the default) a secret is refused when it is empty, shorter than :data:`MIN_SECRET_BYTES`, equal to any
packaged dev value or carrying a placeholder marker (``dev-only``, ``change-me``). Each refusal is one line
naming the environment variable, never its value; the process exits with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from pydantic import SecretStr, ValidationError

from psp_common.settings import SECRET_MARK, ServiceSettings

MIN_SECRET_BYTES = 32
PLACEHOLDER_MARKERS = ("dev-only", "change-me")
EXIT_CONFIG = 2

S = TypeVar("S", bound=ServiceSettings)


def env_var(settings_cls: type[ServiceSettings], field: str) -> str:
    """The environment variable a settings field is read from (``PSP_PSEUDONYM_KEY``)."""
    return f"{settings_cls.model_config.get('env_prefix', '')}{field}".upper()


def secret_fields(settings_cls: type[ServiceSettings]) -> dict[str, tuple[str, ...]]:
    """Secret fields of a settings class and, for each, the settings that make it unused when set."""
    found: dict[str, tuple[str, ...]] = {}
    for name, info in settings_cls.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get(SECRET_MARK):
            waived = extra.get("waived_by") or []
            found[name] = tuple(str(w) for w in waived) if isinstance(waived, list) else ()
    return found


def _packaged_values(settings_cls: type[ServiceSettings]) -> set[str]:
    values = set()
    for name in secret_fields(settings_cls):
        default = settings_cls.model_fields[name].default
        if isinstance(default, SecretStr):
            values.add(default.get_secret_value())
    return values


def _weakness(value: str, packaged: set[str]) -> str | None:
    if not value.strip():
        return "is empty"
    if value in packaged or any(marker in value.lower() for marker in PLACEHOLDER_MARKERS):
        return "is a packaged dev value"
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    return None


def weak_secrets(settings: ServiceSettings) -> list[str]:
    """One line per refused secret (variable and reason, never the value); always empty when ``env`` is dev."""
    if settings.env == "dev":
        return []
    cls = type(settings)
    packaged = _packaged_values(cls)
    problems = []
    for name, waived_by in secret_fields(cls).items():
        if any(getattr(settings, other, None) for other in waived_by):
            continue
        value = getattr(settings, name)
        reason = _weakness(value.get_secret_value() if isinstance(value, SecretStr) else str(value or ""), packaged)
        if reason:
            problems.append(
                f"{env_var(cls, name)} {reason}; set a random value of at least {MIN_SECRET_BYTES} bytes "
                "(openssl rand -base64 48), or PSP_ENV=dev for a local trial"
            )
    return problems + _weak_old_keys(settings, packaged)


def _weak_old_keys(settings: ServiceSettings, packaged: set[str]) -> list[str]:
    """Previous pseudonym keys: events carry pseudonyms under them (aliases), so a known one would leak too."""
    reasons = {_weakness(k.get_secret_value(), packaged) for k in settings.pseudonym_old_keys.values()} - {None}
    return [
        f"{env_var(type(settings), 'pseudonym_old_keys')}: a previous key {reason}; keep only keys that were "
        "accepted as PSP_PSEUDONYM_KEY in production"
        for reason in sorted(r for r in reasons if r)
    ]


def _invalid(settings_cls: type[ServiceSettings], exc: ValidationError) -> list[str]:
    """Settings errors by variable; pydantic's input echo is left out (it may be a secret)."""
    return [
        f"{env_var(settings_cls, str(err['loc'][0])) if err['loc'] else 'settings'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    ]


def refuse(service: str, problems: list[str]) -> NoReturn:
    """Print one line per problem to stderr and exit with status 2."""
    for problem in problems:
        print(f"{service}: refusing to start: {problem}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_CONFIG)


def load(settings_cls: type[S], *checks: Callable[[S], list[str]]) -> S:
    """Read the settings and run the start-up checks (secrets, then ``checks``); exit with one line per problem."""
    service = str(settings_cls.model_fields["service_name"].default)
    try:
        settings = settings_cls()
    except ValidationError as exc:
        refuse(service, _invalid(settings_cls, exc))
    problems = weak_secrets(settings)
    for check in checks:
        problems += check(settings)
    if problems:
        refuse(service, problems)
    return settings
