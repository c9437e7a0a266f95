"""The directory entry's rules: phone (E.164-ish), pager, e-mail, a name and at least one contact."""

from __future__ import annotations

import pytest

from psp_notification.domain.directory import DirectoryEntry, InvalidEntry


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("+1 (416) 555-0142", "+14165550142"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+1 416 555 0142 ext. 3301", "+14165550142;ext=3301"),
        ("+14165550142 x12", "+14165550142;ext=12"),
    ],
)
def test_phone_numbers_are_stored_as_e164(raw: str, stored: str) -> None:
    assert DirectoryEntry.create("A", phone=raw).phone == stored


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"phone": "555-0142"}, "phone"),
        ({"phone": "+1 416 CALL NOW"}, "phone"),
        ({"pager": "beep-me"}, "pager"),
        ({"email": "ana.ruiz"}, "email"),
        ({"email": "ana@localhost"}, "email"),
        ({}, "contact"),
        ({"email": "a@b.example", "unit": "ICU\x00"}, "unit"),
    ],
)
def test_a_bad_field_is_named_without_its_value(values: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidEntry) as caught:
        DirectoryEntry.create("Ana Ruiz", **values)
    assert caught.value.field == field
    assert not any(v and v in str(caught.value) for v in values.values())


def test_a_name_is_required_and_whitespace_is_collapsed() -> None:
    with pytest.raises(InvalidEntry) as caught:
        DirectoryEntry.create("  ", email="a@b.example")
    assert caught.value.field == "display_name"
    entry = DirectoryEntry.create("  Ana   Ruiz ", email="Ana@GEN.Example", pager="44-71")
    assert (entry.display_name, entry.email, entry.pager) == ("Ana Ruiz", "Ana@gen.example", "4471")
