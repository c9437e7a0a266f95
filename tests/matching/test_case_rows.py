"""Rows built by hand (``dataclasses.asdict`` deep-copies and was a tenth of matching's replay samples) hold exactly
what ``asdict`` would."""

from __future__ import annotations

from dataclasses import asdict

from psp_matching.adapters.case_rows import candidate_values, member_values
from psp_matching.domain.cases import Candidate, TeamMember
from tests.matching.factories import NOW


def test_candidate_and_member_rows_are_their_dataclasses_fields() -> None:
    c = Candidate("ps_a", "backup", 4.5, ("same site (GEN)", "on shift now"))
    assert candidate_values(c) == {**asdict(c), "reasons": ["same site (GEN)", "on shift now"]}
    m = TeamMember("a-1", "ps_a", "c-1", "primary", NOW)
    assert member_values(m) == asdict(m)
