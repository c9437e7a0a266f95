"""Console settings: ``PSP_CONSOLE_*`` for the console's own, the shared ``PSP_*`` ones from psp_common.

The console signs people in with the hospital's OpenID Connect provider (``PSP_CONSOLE_OIDC_*``) and calls the
four services' HTTP APIs (``PSP_LISTENER_URL`` ...) with the signed-in user's access token. Roles become scopes
with the shared ``PSP_AUTH_ROLE_CLAIMS`` / ``PSP_AUTH_ROLE_SCOPES`` (the services read the same).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator

from psp_common.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """Settings of the console (env prefix ``PSP_``; the console's own fields start with ``console_``)."""

    service_name: str = "console"
    http_port: int = 8000
    console_public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Where browsers reach the console (scheme, host, port); the OIDC redirect URI is built from it.",
    )
    console_oidc_issuer: str | None = Field(
        None, description="OpenID Connect issuer URL (discovery at <issuer>/.well-known/openid-configuration)."
    )
    console_oidc_client_id: str = Field("psp-console", description="The console's client id at the provider.")
    console_oidc_client_secret: SecretStr | None = Field(
        None, description="Client secret (confidential client); unset for a public client (PKCE only)."
    )
    console_oidc_scopes: str = Field(
        "openid profile",
        description="Scopes asked for at sign-in ('openid' is required; add the API scope your provider needs).",
    )
    console_oidc_timeout_s: float = Field(10, gt=0, description="Timeout of one request to the provider.")
    console_login_timeout_s: float = Field(600, gt=0, description="How long a started sign-in may take.")
    console_session_idle_minutes: float = Field(
        30, gt=0, description="A session unused this long ends (it also ends when the access token expires)."
    )
    console_backend_timeout_s: float = Field(10, gt=0, description="Timeout of one call to a service's API.")
    console_default_timezone: str = Field(
        "America/Toronto", description="IANA zone times are shown in when a facility has none of its own."
    )
    console_facility_timezones: dict[str, str] = Field(
        default_factory=dict, description="Facility code -> IANA zone its times are shown in."
    )
    listener_url: str = Field("http://127.0.0.1:8001", description="Base URL of the listener's API.")
    rules_url: str = Field("http://127.0.0.1:8002", description="Base URL of the rules service's API.")
    matching_url: str = Field("http://127.0.0.1:8003", description="Base URL of the matching service's API.")
    notification_url: str = Field("http://127.0.0.1:8004", description="Base URL of the notification service's API.")

    @field_validator("console_default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _known_zone(value)

    @field_validator("console_facility_timezones")
    @classmethod
    def _zones(cls, value: dict[str, str]) -> dict[str, str]:
        return {facility: _known_zone(zone) for facility, zone in value.items()}

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure (and ``__Host-`` prefixed) everywhere but a dev run over plain http."""
        return self.env != "dev"

    @property
    def redirect_uri(self) -> str:
        """Where the provider sends the browser back after sign-in."""
        return self.console_public_url.rstrip("/") + "/auth/callback"

    @property
    def signed_out_uri(self) -> str:
        """Where the provider sends the browser back after signing out there (post_logout_redirect_uri)."""
        return self.console_public_url.rstrip("/") + "/auth/signed-out"

    def zone_of(self, facility: str | None) -> ZoneInfo:
        """The zone a facility's times are shown in."""
        return ZoneInfo(self.console_facility_timezones.get(facility or "", self.console_default_timezone))


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown IANA time zone") from exc
    return value


def config_problems(settings: ConsoleSettings) -> list[str]:
    """Start-up checks of the sign-in settings: one line per problem, naming the variable."""
    problems = []
    if not settings.console_oidc_issuer:
        problems.append("PSP_CONSOLE_OIDC_ISSUER is not set; point it at the hospital's OpenID Connect provider")
    elif settings.env != "dev" and not settings.console_oidc_issuer.startswith("https://"):
        problems.append("PSP_CONSOLE_OIDC_ISSUER must be an https URL in production")
    if settings.env != "dev" and not settings.console_public_url.startswith("https://"):
        problems.append("PSP_CONSOLE_PUBLIC_URL must be an https URL in production (cookies are Secure)")
    if "openid" not in settings.console_oidc_scopes.split():
        problems.append("PSP_CONSOLE_OIDC_SCOPES must include openid")
    return problems
