"""Confidentiality at the edge: phrase rules, key rotation, no narrative or patient data in events."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from psp_common.events.vocab import CisTrigger
from psp_listener.adapters.phrases import PhraseMatcher, PhraseRule, load_rules
from psp_listener.adapters.schemas import OccurrenceReportV1
from tests.listener.conftest import fixture, make_normalizer


def report(narrative: str, age_group: str = "adult") -> OccurrenceReportV1:
    return OccurrenceReportV1.model_validate(
        {
            "source_system": "rl6",
            "report_id": "R-1",
            "facility": "GEN",
            "unit": "ICU",
            "occurred_at": "2026-11-23T03:00:00-05:00",
            "event_class": "incident",
            "involved_staff": [{"staff_id": "E100"}],
            "narrative": narrative,
            "patient": {"age_group": age_group, "mrn": "MRN-777", "name": "Jane Roe"},
        }
    )


@pytest.mark.parametrize(
    ("text", "age", "expected"),
    [
        ("Code blue called for a toddler in bay 3", "unknown", CisTrigger.SIGNIFICANT_EVENT_INVOLVING_CHILD),
        ("code blue in room 4", "child", CisTrigger.SIGNIFICANT_EVENT_INVOLVING_CHILD),
        ("Patient assaulted the RN", "adult", CisTrigger.ASSAULT_HARASSMENT_OR_VIOLENCE),
        ("visitor threatened staff with a knife", "adult", CisTrigger.THREAT_TO_STAFF_SAFETY),
        ("family says they will file a lawsuit", "adult", CisTrigger.NAMED_IN_COMPLAINT_OR_LAWSUIT),
    ],
)
def test_default_phrase_rules_flag_before_narrative_is_dropped(text: str, age: str, expected: CisTrigger) -> None:
    norm = make_normalizer()
    event = norm.native(report("NARRATIVE-SECRET " + text, age))
    assert expected in event.cis_flags
    raw = event.model_dump_json()
    assert "NARRATIVE-SECRET" not in raw and "MRN-777" not in raw and "Jane Roe" not in raw


def test_code_blue_for_an_adult_is_not_a_child_event() -> None:
    event = make_normalizer().native(report("code blue in room 4", "adult"))
    assert CisTrigger.SIGNIFICANT_EVENT_INVOLVING_CHILD not in event.cis_flags


def test_rules_come_from_settings_and_replace_defaults() -> None:
    rule = PhraseRule(patterns=(r"\bbullied\b",), trigger=CisTrigger.WORKPLACE_CONFLICT)
    event = make_normalizer(phrase_rules=[rule]).native(report("she was bullied; assault mentioned"))
    assert event.cis_flags == (CisTrigger.WORKPLACE_CONFLICT,)


def test_rules_come_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - pattern: 'reporter|tv crew'\n    trigger: excessive_media_interest\n"
        "  - patterns: ['code blue']\n    trigger: significant_event_involving_child\n"
        "    age_groups: [neonate]\n"
    )
    assert len(load_rules(path)) == 2
    norm = make_normalizer(phrase_rules_file=path)
    assert norm.native(report("a TV crew at the door")).cis_flags == (CisTrigger.EXCESSIVE_MEDIA_INTEREST,)
    assert norm.native(report("code blue", "neonate")).cis_flags == (CisTrigger.SIGNIFICANT_EVENT_INVOLVING_CHILD,)
    assert norm.native(report("someone assaulted")).cis_flags == ()


def test_bad_rules_are_rejected_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        PhraseRule(patterns=("(unclosed",), trigger=CisTrigger.WORKPLACE_CONFLICT)
    path = tmp_path / "rules.yaml"
    path.write_text("- pattern: x\n  trigger: not_a_trigger\n")
    with pytest.raises(ValidationError):
        load_rules(path)


def test_matcher_without_text_flags_nothing() -> None:
    assert PhraseMatcher([]).flags(["assault"]) == ()
    assert make_normalizer().phrases.flags([None, ""]) == ()


def test_key_rotation_events_carry_the_new_key_id() -> None:
    old = make_normalizer(pseudonym_key=SecretStr("first-key-0123456789abcdef"), pseudonym_key_id="k1")
    new = make_normalizer(
        pseudonym_key=SecretStr("second-key-0123456789abcdef"),
        pseudonym_key_id="k2",
        pseudonym_old_keys={"k1": SecretStr("first-key-0123456789abcdef")},
    )
    before = old.native(report("x")).staff[0]
    for event in (new.native(report("x")), new.fhir(fixture_bytes())):
        after = event.staff[0]
        assert after.key_id == "k2" and after.pseudonym != before.pseudonym
    assert before.key_id == "k1"
    assert new.pseudo.matches("E100", before.pseudonym, "k1")
    assert new.pseudo.matches("E100", new.native(report("x")).staff[0].pseudonym, "k2")
    # The same source report keeps its reference, so an amendment after a rotation is still an amendment.
    assert new.native(report("x")).incident_ref == old.native(report("x")).incident_ref


def test_key_rotation_events_carry_the_old_key_pseudonyms_as_aliases() -> None:
    old = make_normalizer(pseudonym_key=SecretStr("first-key-0123456789abcdef"), pseudonym_key_id="k1")
    new = make_normalizer(
        pseudonym_key=SecretStr("second-key-0123456789abcdef"),
        pseudonym_key_id="k2",
        pseudonym_old_keys={"k1": SecretStr("first-key-0123456789abcdef")},
    )
    before = old.native(report("x")).staff[0]
    assert before.aliases == ()  # no previous key active: nothing extra on the bus
    for event in (new.native(report("x")), new.fhir(fixture_bytes())):
        after = event.staff[0]
        assert after.key_id == "k2" and after.aliases == (before.pseudonym,)
        assert "E100" not in event.model_dump_json()


def fixture_bytes() -> bytes:
    import json

    return json.dumps(fixture("adverse_event_r4.json")).encode()
