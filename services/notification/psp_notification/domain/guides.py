"""What a supporter is told after acknowledging: how to approach the colleague and where to refer them.

Configured per facility (``PSP_FACILITY_GUIDES``); a facility without its own guide gets ``DEFAULT_GUIDE``,
written from the program's process (call back within 30 minutes, meet within 12 hours, the Center for
Professionalism and Peer Support opening) and its confidentiality rules (minimal records, limits stated).
The script depends on what kind of contact the case is (``Approach``): an incident's outreach uses
``approach_script``; a referral (seed 004) uses the guide's ``scripts`` entry for its approach, else the
built-in one (``REFERRAL_SCRIPTS``), so a facility may override any of them. Nothing clinical: a guide never
contains incident details.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from psp_notification.domain.approaches import Approach

Script = tuple[str, ...]


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

    approach_script: Script = Field(min_length=1, max_length=20, description="Steps, in order (incident outreach).")
    resources: tuple[Resource, ...] = Field((), max_length=20, description="Where to refer, in display order.")
    scripts: dict[Approach, Script] = Field(
        default_factory=dict,
        description="Per kind of referral (self, reach_out, eap, support_referrer): its steps, in order; a kind "
        "not listed gets the built-in script (incident: approach_script).",
    )

    def script_for(self, approach: Approach) -> Script:
        """The steps for a case of this kind: the guide's own, else the built-in referral script."""
        own = self.scripts.get(approach)
        if own:
            return own
        return REFERRAL_SCRIPTS.get(approach, self.approach_script)


LISTEN = "Listen; let them share the personal impact. Do not ask for incident details and do not judge."
CONFIDENTIAL = "Say the limits of confidentiality at the start; keep no notes beyond the minimal encounter record."
CRISIS = "If they seem at risk of harming themselves, stay with them and use the crisis line now."
DECLINE = (
    "They may decline: that is their choice. Thank them, tell them how to reach the program later, and press "
    "\u201cThey declined the offer\u201d below (the case closes quietly)."
)

REFERRAL_SCRIPTS: dict[Approach, Script] = {
    Approach.SELF: (
        "They asked for support themselves. Call back within the call-back time shown above, then plan to meet "
        "within the meeting deadline.",
        "Introduce yourself as the peer supporter answering their request: \u201cI am a peer supporter with the "
        "PSP. You asked for someone to talk to, and I\u2019m calling to find out how you are doing. Is now a good "
        "time to talk?\u201d",
        LISTEN,
        CONFIDENTIAL,
        CRISIS,
    ),
    Approach.REACH_OUT: (
        "A colleague or manager was concerned about them and asked the PSP to reach out; they did not ask "
        "themselves. Call within the call-back time shown above.",
        "Offer support: \u201cI am calling as a peer supporter. I heard things have not been easy, and I\u2019m "
        "calling to find out how you are doing. Would it be helpful to talk about your experience?\u201d",
        DECLINE,
        "Do not say who referred them unless that person agreed to be named (ask the coordinator); if they ask, "
        "say that someone who works with them was concerned.",
        LISTEN,
        CONFIDENTIAL,
        CRISIS,
    ),
    Approach.EAP: (
        "Their EAP or occupational health counsellor referred them, and they agreed to be referred. Call within "
        "the call-back time shown above.",
        "Offer support: \u201cI am calling as a peer supporter; you agreed that we could call. I\u2019m calling "
        "to find out how you are doing. Would it be helpful to talk about your experience?\u201d",
        DECLINE,
        LISTEN,
        CONFIDENTIAL,
        CRISIS,
    ),
    Approach.SUPPORT_REFERRER: (
        "The person on this page is the referrer: they are worried about a colleague. You are calling them to "
        "help them help their colleague; the colleague is not contacted by the PSP.",
        "Listen to their concern and to how it affects them: they may need support too.",
        "Give advice on how to talk to their colleague, and how to encourage the colleague to contact the PSP "
        "themselves (self-referral).",
        "Do not contact the colleague yourself, and do not ask for the colleague\u2019s name or incident details.",
        CONFIDENTIAL,
        CRISIS,
    ),
}

DEFAULT_GUIDE = FacilityGuide(
    approach_script=(
        "Call back within the call-back time shown above, then plan to meet within the meeting deadline.",
        "Introduce yourself as a peer supporter: \u201cI am calling as a peer supporter. I heard things "
        "didn\u2019t go well, and I\u2019m calling to find out how you are doing. Would it be helpful to talk "
        "about your experience?\u201d",
        "They may decline: that is their choice. Thank them and tell them how to reach the program later.",
        LISTEN,
        CONFIDENTIAL,
        CRISIS,
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
