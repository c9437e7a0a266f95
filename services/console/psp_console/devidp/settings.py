"""Settings of the dev identity provider (``PSP_DEVIDP_*``, plus the shared ``PSP_*``)."""

from __future__ import annotations

from pydantic import Field

from psp_common.settings import ServiceSettings

DEV_TOOLS_CLIENT = "psp-dev-tools"
"""The client that may ask for a token by client credentials (make run loads its demo data with it)."""


class DevIdpSettings(ServiceSettings):
    """The dev provider's settings."""

    service_name: str = "devidp"
    http_port: int = 8005
    devidp_issuer: str | None = Field(
        None, description="Issuer URL (how browsers and services reach it); default http://127.0.0.1:<port>."
    )
    devidp_clients: list[str] = Field(
        default_factory=lambda: ["psp-console"], description="Client ids that may sign people in."
    )
    devidp_redirect_uris: list[str] = Field(
        default_factory=list,
        description="Allowed redirect URIs; empty allows any http(s) URI on 127.0.0.1 or localhost (dev).",
    )
    devidp_post_logout_redirect_uris: list[str] = Field(
        default_factory=list,
        description="Registered post-logout redirect URIs (RP-initiated logout); empty allows any http(s) URI on "
        "127.0.0.1 or localhost (dev). Any other is never redirected to.",
    )
    devidp_end_session: bool = Field(
        True, description="Advertise end_session_endpoint (off: act as a provider without RP-initiated logout)."
    )
    devidp_token_ttl_s: int = Field(3600, gt=0, description="Lifetime of issued tokens.")
    devidp_code_ttl_s: int = Field(120, gt=0, description="Lifetime of an authorization code.")

    @property
    def issuer(self) -> str:
        """The issuer URL the tokens carry."""
        return (self.devidp_issuer or f"http://127.0.0.1:{self.http_port}").rstrip("/")


def production_problems(settings: DevIdpSettings) -> list[str]:
    """The dev provider signs anyone in as anyone: never outside PSP_ENV=dev."""
    if settings.env != "dev":
        return [
            "PSP_ENV is not dev: the demo identity provider signs anyone in as a coordinator; use the hospital's "
            "identity provider (PSP_CONSOLE_OIDC_ISSUER, PSP_AUTH_OIDC_ISSUER)"
        ]
    return []
