"""What a supporter is told after acknowledging: how to approach the colleague and where to refer them.

Configured per facility (``PSP_FACILITY_GUIDES``); a facility without its own guide gets ``DEFAULT_GUIDE``,
written from the program's process (call back within 30 minutes, meet within 12 hours, the Center for
Professionalism and Peer Support opening) and its confidentiality rules (minimal records, limits stated).
Nothing clinical: a guide never contains incident details.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Resource(BaseModel):
    """A service the supporter can refer the colleague to (EAP, spiritual care, crisis line...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=120, description="Name shown to the supporter.")
    phone: str | None = Field(None, max_length=40, description="Number to call, as dialled.")
    url: str | None = Field(None, max_length=300, description="Web page (https://...).")
    note: str | None = Field(None, max_length=300, description="When to use it, hours, how to reach it.")


class FacilityGuide(BaseModel):
    """A facility's approach script and resources."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approach_script: tuple[str, ...] = Field(min_length=1, max_length=20, description="Steps, in order.")
    resources: tuple[Resource, ...] = Field((), max_length=20, description="Where to refer, in display order.")


DEFAULT_GUIDE = FacilityGuide(
    approach_script=(
        "Call back within the call-back time shown above, then plan to meet within the meeting deadline.",
        "Introduce yourself as a peer supporter: \u201cI am calling as a peer supporter. I heard things "
        "didn\u2019t go well, and I\u2019m calling to find out how you are doing. Would it be helpful to talk "
        "about your experience?\u201d",
        "They may decline: that is their choice. Thank them and tell them how to reach the program later.",
        "Listen; let them share the personal impact. Do not ask for incident details and do not judge.",
        "Say the limits of confidentiality at the start; keep no notes beyond the minimal encounter record.",
        "If they seem at risk of harming themselves, stay with them and use the crisis line now.",
    ),
    resources=(
        Resource(name="Employee and Family Assistance Program (EAP)", note="Confidential counselling, 24/7."),
        Resource(name="Spiritual care", note="Through the hospital switchboard."),
        Resource(
            name="Suicide crisis line",
            phone="988",
            url="https://988.ca",
            note="Call or text 9-8-8, any time (Canada and the United States).",
        ),
    ),
)


def guide_for(guides: dict[str, FacilityGuide], facility: str) -> FacilityGuide:
    """The facility's guide, or the default one."""
    return guides.get(facility, DEFAULT_GUIDE)
