"""Who may open which page: each page names the scopes (roles) that may use it; the nav shows only those.

A page area adds one :class:`PageSpec` to :data:`PAGES` (its path, its label in the nav and the scopes that may
open it); its router guards every route with ``pages.page(<key>)`` (see entrypoints/web.py), so the nav and the
403 come from the same entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from psp_common.auth import Scope


@dataclass(frozen=True)
class PageSpec:
    """One page area of the console."""

    key: str
    label: str
    path: str
    scopes: frozenset[Scope]
    description: str
    in_nav: bool = True
    reveals_case_data: bool = False  # each view is written to the console's audit log

    def allows(self, scopes: frozenset[str]) -> bool:
        """Whether a user with ``scopes`` may open it."""
        return any(s.value in scopes for s in self.scopes)


COORDINATOR = frozenset({Scope.COORDINATOR})
EVALUATORS = frozenset({Scope.COORDINATOR, Scope.ANALYST})
EVERYONE = frozenset({Scope.COORDINATOR, Scope.SUPPORTER, Scope.ANALYST, Scope.STAFF})  # every signed-in role

PAGES: dict[str, PageSpec] = {
    p.key: p
    for p in (
        PageSpec("home", "Home", "/", EVERYONE, "Who you are and what you may use."),
        PageSpec(
            "refer",
            "Refer",
            "/refer",
            EVERYONE,
            "Ask for peer support for yourself, or refer a colleague (choices only, no free text).",
        ),
        PageSpec(
            "board",
            "Live board",
            "/board",
            COORDINATOR,
            "Open cases, what needs you first, and their clocks, updated every few seconds.",
            reveals_case_data=True,
        ),
        PageSpec(
            "case",
            "Case",
            "/cases",
            COORDINATOR,
            "One case: its timeline, candidates and actions.",
            in_nav=False,
            reveals_case_data=True,
        ),
        PageSpec(
            "triage",
            "Triage",
            "/triage",
            COORDINATOR,
            "Reports the listener could not attribute: attach people and dispatch, or dismiss with a reason.",
            reveals_case_data=True,
        ),
        PageSpec(
            "status",
            "Service status",
            "/status",
            COORDINATOR,
            "Whether each service answers and accepts your sign-in.",
        ),
        PageSpec(
            "rules",
            "Rules",
            "/rules",
            COORDINATOR,
            "The rules that decide who is offered support: view them, edit a draft, try a sample, publish.",
        ),
        PageSpec(
            "roster",
            "Roster",
            "/roster",
            COORDINATOR,
            "Supporters: add, edit, pause or step away; import the roster CSV; who is on shift; this month's load.",
        ),
        PageSpec("shifts", "Shifts", "/shifts", COORDINATOR, "The week's shifts per facility; import iCal or JSON."),
        PageSpec(
            "directory",
            "Directory",
            "/directory",
            COORDINATOR,
            "Load the staff directory (CSV or FHIR Bundle); remove someone who left.",
        ),
        PageSpec(
            "opt_outs",
            "Opt-outs",
            "/opt-outs",
            COORDINATOR,
            "Opt a person out of outreach, or back in, by staff id.",
        ),
        PageSpec(
            "evaluation",
            "Evaluation",
            "/evaluation",
            EVALUATORS,
            "The programme's figures by month as charts, with CSV downloads; small counts suppressed.",
        ),
        PageSpec(
            "safety_calls",
            "Safety calls",
            "/safety-calls",
            COORDINATOR,
            "The morning and evening safety-call lists of a facility and day, ready to print.",
        ),
        PageSpec(
            "audit",
            "Audit log",
            "/audit",
            COORDINATOR,
            "Who read or changed what in each service and the console, with filters.",
        ),
    )
}
"""Every page area, in nav order. Add yours here (and its router in bootstrap.py)."""


def register(spec: PageSpec) -> PageSpec:
    """Add a page area (refuses a key that is taken, so two page modules cannot clash silently)."""
    if spec.key in PAGES:
        raise ValueError(f"page key {spec.key!r} is taken")
    PAGES[spec.key] = spec
    return spec


def nav_for(scopes: frozenset[str]) -> list[PageSpec]:
    """The nav entries a user with ``scopes`` sees, in order."""
    return [p for p in PAGES.values() if p.in_nav and p.allows(scopes)]


ROLE_NAMES = {
    Scope.COORDINATOR.value: "PSP coordinator",
    Scope.SUPPORTER.value: "Peer supporter",
    Scope.ANALYST.value: "Evaluation analyst",
    Scope.STAFF.value: "Staff member",
    Scope.INTAKE.value: "Integration system",
    Scope.SCIM.value: "Provisioning client",
}


def role_labels(scopes: frozenset[str]) -> list[str]:
    """How the user's scopes read on the page (known ones, in a fixed order)."""
    return [label for scope, label in ROLE_NAMES.items() if scope in scopes]
