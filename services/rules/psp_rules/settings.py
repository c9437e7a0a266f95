"""Rules service settings."""

from __future__ import annotations

from pydantic import Field

from psp_common.events.referral import ReferralPolicy
from psp_common.settings import ServiceSettings
from psp_common.stats import MIN_CELL_FIELD


class RulesSettings(ServiceSettings):
    """Settings of the rules service (env prefix ``PSP_``)."""

    service_name: str = "rules"
    http_port: int = 8002
    merge_window_hours: float = Field(
        72.0,
        gt=0,
        description="A person's incident that occurred within this many hours (before or after) of an incident of"
        " theirs with an open case is merged into that case, not re-contacted (event time, not arrival).",
    )
    group_staff_more_than: int = Field(
        5, ge=1, description="More than this many staff involved -> group intervention (when a rule set sets none)."
    )
    group_units_at_least: int = Field(
        2, ge=2, description="This many distinct units involved -> group intervention (when a rule set sets none)."
    )
    default_ruleset_file: str | None = Field(
        None, description="YAML file seeding the default rule set; None uses the packaged rulesets/default.yaml."
    )
    outreach_max_age_days: float | None = Field(
        30.0,
        gt=0,
        description="An incident that occurred more than this many days before the rules service decides on it"
        " (its occurred_at against the decision clock) is decided and counted but requests no outreach: no case is"
        " opened, merged or escalated and nobody is paged. Historical imports are never paged, whatever their age."
        " Unset (null) for no limit.",
    )
    max_body_bytes: int = Field(256 * 1024, description="Largest request body accepted (HTTP 413 above).")
    stats_min_cell: int = MIN_CELL_FIELD
    referral_policy: ReferralPolicy = Field(
        ReferralPolicy.REACH_OUT,
        description="On a colleague's or manager's referral: reach_out (a supporter offers support to the person, who"
        " may decline) or support_referrer (a supporter helps the referrer help their colleague).",
    )
    referral_policies: dict[str, ReferralPolicy] = Field(
        default_factory=dict,
        description='Facility -> its own third-party referral policy, e.g. {"north": "support_referrer"}.',
    )
