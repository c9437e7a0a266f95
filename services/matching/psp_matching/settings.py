"""Matching settings: every number from the brief is a default here, never a constant in code."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from psp_common.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    """Settings of the matching service (env prefix ``PSP_``)."""

    service_name: str = "matching"
    http_port: int = 8003
    max_body_bytes: int = Field(2 * 1024 * 1024, description="Largest request body (CSV/iCal imports); 413 above.")
    monthly_cap: int = Field(2, ge=0, description="Most cases a supporter takes per calendar month (AHS: twice).")
    cap_time_zone: str = Field("UTC", description="IANA zone whose calendar months the monthly cap counts in.")
    max_backups: int = Field(3, ge=0, description="Ranked backups published with each match.")
    group_team_size: int = Field(2, ge=1, description="Facilitators in a group team (primary + co-facilitators).")
    default_discipline: Literal["same", "other", "any"] = Field(
        "same", description="Discipline preference of a case unless a coordinator re-matches with another."
    )
    fairness_window_days: int = Field(
        30,
        ge=1,
        description="Recent assignments counted for fairness (days), in whole UTC days: a supporter's case counts "
        "when their latest team row for it falls on the UTC day of (the instant judged at minus this many days) "
        "or later.",
    )
    continuity_window_days: int = Field(90, ge=1, description="How far back 'already supporting this person' looks.")
    weight_on_shift: float = Field(3.0, description="Score for a supporter on shift now (in the workplace).")
    weight_discipline: float = Field(2.0, description="Score for the case's discipline preference (same/other).")
    weight_same_site: float = Field(2.0, description="Score for a supporter at the case's facility.")
    weight_language: float = Field(1.0, description="Score for sharing a language with the supported people.")
    weight_fairness: float = Field(1.0, description="Penalty per assignment in the fairness window.")
    weight_continuity: float = Field(4.0, description="Score for a supporter already on the case or the person.")
    max_list: int = Field(500, ge=1, description="Most rows a list endpoint returns.")

    @field_validator("cap_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown IANA time zone") from exc
        return value
