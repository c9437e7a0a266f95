"""Notification settings: windows, timers, channels, safety-call times (env prefix ``PSP_``)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from psp_common.settings import ServiceSettings, secret
from psp_common.stats import MIN_CELL_FIELD
from psp_notification.domain.guides import FacilityGuide

ChannelKind = Literal["webhook", "email", "sms", "console"]


class ChannelConfig(BaseModel):
    """One way to reach a person (kind + address); addresses never leave this service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ChannelKind = Field(description="webhook, email, sms or console.")
    address: str = Field("", max_length=512, description="URL, e-mail address, E.164 phone number; unused by console.")


class CallWindow(BaseModel):
    """A safety call: the local-time window it reviews and the local time it is held (published)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = Field(description="Local start of the reviewed window (on the previous day if after ``end``).")
    end: time = Field(description="Local end of the reviewed window, on the call date.")
    publish_at: time | None = Field(None, description="Local time the feed is published; defaults to ``end``.")


def _default_calls() -> dict[str, CallWindow]:
    return {
        "morning": CallWindow(start=time(19, 0), end=time(7, 0)),
        "evening": CallWindow(start=time(7, 0), end=time(19, 0)),
    }


class NotificationSettings(ServiceSettings):
    """Settings of the notification service."""

    service_name: str = "notification"
    http_port: int = 8004
    max_body_bytes: int = Field(64 * 1024, description="Largest request body accepted (HTTP 413 above).")
    public_base_url: str = Field("http://127.0.0.1:8004", description="Base URL used in acknowledge/decline links.")
    webhook_secret: SecretStr = secret(
        "dev-only-webhook-secret-change-me",
        "HMAC key of webhook signatures (X-PSP-Signature), shared with the receivers.",
    )
    token_ttl_minutes: float = Field(
        12 * 60, gt=0, description="How long an acknowledge/decline link stays valid after the page is sent."
    )
    ack_window_minutes: float = Field(30, gt=0, description="No acknowledgement within this -> page the next backup.")
    contact_deadline_hours: float = Field(12, gt=0, description="Contact expected within this after the match.")
    callback_minutes: float = Field(
        30, gt=0, description="The supporter page asks the supporter to call the colleague back within this."
    )
    coordinator_phone: str | None = Field(
        None, max_length=40, description="PSP coordinator's number, shown when a colleague is not in the directory."
    )
    facility_guides: dict[str, FacilityGuide] = Field(
        default_factory=dict,
        description="Per facility code: the supporter page's approach script and resources (EAP, spiritual care, "
        "crisis line). Facilities not listed get the built-in default guide.",
    )
    supporter_page_require_sso: bool = Field(
        False,
        description="The supporter page reveals the colleague only to a bearer token (hospital SSO) whose "
        "staff_id is the acknowledging supporter's; 401 otherwise.",
    )
    checkin_hours: list[float] = Field(
        default_factory=lambda: [24.0, 72.0], description="Follow-up check-in reminders, hours after contact."
    )
    default_channel: ChannelKind = Field("console", description="Channel for people with no contact on file.")
    coordinator_channels: list[ChannelConfig] = Field(
        default_factory=lambda: [ChannelConfig(kind="console", address="")],
        description="How the PSP coordinator is reached, in preference order.",
    )
    dispatch_poll_s: float = Field(
        0.5,
        gt=0,
        description="Longest a delivery call waits for a send to finish before looking for pages fallen due, and "
        "the retry delay of a failed delivery round.",
    )
    dispatch_idle_s: float = Field(
        60.0,
        gt=0,
        description="Longest the dispatcher sleeps with no page due (a new page wakes it; a retry or a lease "
        "running out is waited for exactly).",
    )
    timer_poll_s: float = Field(
        60.0,
        gt=0,
        description="Longest the timers sleep: they wake when the next ack window or contact deadline runs out, "
        "and at least this often (safety-call feeds, deadlines written meanwhile).",
    )
    dispatch_concurrency: int = Field(
        64,
        ge=1,
        description="Pages handed to channels at the same time (slots freed by finished sends are refilled by one "
        "claim while the others are still being sent; finished sends are recorded together).",
    )
    send_lease_s: float = Field(120, gt=0, description="A page claimed longer ago than this is retried (crash).")
    send_max_attempts: int = Field(5, ge=1, description="Delivery rounds before a page is marked failed.")
    send_retry_s: float = Field(30, ge=0, description="Delay before the second delivery round (doubles).")
    webhook_timeout_s: float = Field(10, gt=0, description="Timeout of each step (connect, read...) of an HTTP call.")
    channel_send_deadline_s: float = Field(
        10,
        gt=0,
        description="Overall deadline of one channel's delivery of a page: lookup, connect, retries, reading the "
        "answer. At most half of send_lease_s (a page's channels together stop at half its lease).",
    )
    webhook_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Webhook host names allowed to resolve to private, loopback or link-local addresses "
        "(an internal paging gateway). Production refuses those addresses for every other host.",
    )
    webhook_max_response_bytes: int = Field(
        64 * 1024, ge=0, description="At most this much of a webhook's answer is read (only its status matters)."
    )
    webhook_retries: int = Field(3, ge=0, description="Retries of a webhook call on 5xx/429/network error.")
    webhook_backoff_s: float = Field(0.5, ge=0, description="First backoff between webhook retries (doubles).")
    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(25, description="SMTP server port.")
    smtp_username: str | None = Field(None, description="SMTP user, if the server needs login.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_sender: str = Field("psp-outreach@localhost", description="From address of e-mailed pages.")
    sms_api_url: str | None = Field(None, description="SMS provider endpoint (POST JSON {to, from, text}).")
    sms_api_key: SecretStr | None = Field(None, description="Bearer token of the SMS provider.")
    sms_sender: str = Field("PSP", description="Sender id shown on SMS pages.")
    facility_timezones: dict[str, str] = Field(
        default_factory=lambda: {"GEN": "America/Toronto"}, description="IANA time zone by facility code."
    )
    default_timezone: str = Field("America/Toronto", description="Time zone of facilities not listed above.")
    safety_calls: dict[str, CallWindow] = Field(
        default_factory=_default_calls, description="Safety calls by name (morning, evening) and their windows."
    )
    feed_catchup_hours: float = Field(
        12, ge=0, description="A call missed while down is still published if at most this late."
    )
    stats_percentiles: list[float] = Field(
        default_factory=lambda: [50.0, 90.0, 95.0], description="Percentiles of time to contact in /v1/stats."
    )
    stats_min_cell: int = MIN_CELL_FIELD
    follow_up_reminder_time: time = Field(
        time(9, 0),
        description="Local time (the facility's zone) of the check-in reminder on an encounter's follow-up date.",
    )
    directory_staff_id_system: str | None = Field(
        None,
        max_length=512,
        description="FHIR Identifier.system of the staff id in a directory Bundle's Practitioner.identifier "
        "(e.g. the hospital's employee-number system URI); unset: each Practitioner's first identifier.",
    )
    scim_staff_id_attribute: Literal["userName", "externalId"] = Field(
        "userName",
        description="SCIM User attribute that carries the staff id (map the hospital's immutable employee id to it).",
    )
    directory_max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest directory upload (CSV or FHIR Bundle) accepted (HTTP 413)."
    )

    dev_links_file: Path | None = Field(
        None,
        description="PSP_ENV=dev only (make run sets it): the console channel appends the full links of each page "
        "it sends to this file (never to a log line), so a demo page can be opened in a browser. Refused in "
        "production: the links are live credentials.",
    )

    @model_validator(mode="after")
    def _dev_links_in_dev_only(self) -> NotificationSettings:
        if self.dev_links_file is not None and self.env != "dev":
            raise ValueError("dev_links_file (PSP_DEV_LINKS_FILE) is for PSP_ENV=dev only: page links are credentials")
        return self

    @model_validator(mode="after")
    def _deadline_within_lease(self) -> NotificationSettings:
        if self.channel_send_deadline_s * 2 > self.send_lease_s:
            raise ValueError(
                "channel_send_deadline_s must be at most half of send_lease_s (PSP_CHANNEL_SEND_DEADLINE_S, "
                "PSP_SEND_LEASE_S): a page must be marked before its lease runs out"
            )
        return self

    @field_validator("facility_timezones")
    @classmethod
    def _known_zones(cls, value: dict[str, str]) -> dict[str, str]:
        for zone in value.values():
            _zone(zone)
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value


def _zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc
