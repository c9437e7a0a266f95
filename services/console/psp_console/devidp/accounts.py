"""The demo accounts the dev provider offers (fictional; the supporter is a demo roster member)."""

from __future__ import annotations

from dataclasses import dataclass

from psp_common import demo


@dataclass(frozen=True)
class DemoAccount:
    """One person who can sign in at the dev provider."""

    key: str
    subject: str
    name: str
    roles: tuple[str, ...]
    description: str
    staff_id: str | None = None


ACCOUNTS: dict[str, DemoAccount] = {
    a.key: a
    for a in (
        DemoAccount(
            "coordinator",
            "demo-coordinator",
            "Casey Demo",
            ("coordinator",),
            "Runs the program: board, cases, roster, rules, audit.",
        ),
        DemoAccount(
            "supporter",
            "demo-supporter",
            "Sam Demo",
            ("supporter",),
            "A peer supporter on the demo roster: their own assignments only.",
            staff_id=str(demo.SUPPORTERS[0]["staff_id"]),
        ),
        DemoAccount("analyst", "demo-analyst", "Alex Demo", ("analyst",), "Evaluation: aggregate figures only."),
        DemoAccount(
            "staff",
            "demo-staff",
            "Jo Demo",
            ("staff",),
            "Any staff member (the demo clinician E-201): refer yourself or a colleague.",
            staff_id="E-201",
        ),
    )
}
