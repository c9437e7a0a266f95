"""Listener settings."""

from __future__ import annotations

from pydantic import Field

from psp_common.settings import ServiceSettings


class ListenerSettings(ServiceSettings):
    """Settings of the listener (env prefix ``PSP_``)."""

    service_name: str = "listener"
    http_port: int = 8001
    max_body_bytes: int = Field(256 * 1024, description="Largest intake body accepted (HTTP 413 above).")
