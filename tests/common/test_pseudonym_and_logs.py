"""Pseudonyms are stable, keyed and rotatable; logs never carry contact details."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest

from psp_common.logs import RedactingFilter, redact
from psp_common.pseudonym import Pseudonymizer


def test_pseudonym_is_stable_normalized_and_keyed() -> None:
    a = Pseudonymizer(b"k" * 32, "k1")
    b = Pseudonymizer(b"x" * 32, "k1")
    assert a.pseudonym("E100") == a.pseudonym(" e100 ")
    assert a.pseudonym("E100") != b.pseudonym("E100")
    assert "E100" not in a.pseudonym("E100")
    assert a.matches("E100", a.pseudonym("E100"), "k1")
    assert not a.matches("E101", a.pseudonym("E100"), "k1")


def test_pseudonym_and_reference_values_are_fixed() -> None:
    """Known values (HMAC-SHA256 of the normalized id, first 128 bits in hex): any change to the derivation shows
    here, since every stored pseudonym and reference would stop matching."""
    p = Pseudonymizer(b"k" * 32, "k1", reference_key=b"r" * 32)
    assert p.pseudonym(" E100 ") == "ps_4433a5e6a2642c8a88ab39d6bbfef11d"
    assert p.pseudonym("E100") == "ps_" + hmac.new(b"k" * 32, b"e100", hashlib.sha256).hexdigest()[:32]
    assert p.reference("report", "rl6:R1") == "ref_30642377c0364e4debe44e8a83dc9efe"
    assert (
        p.reference("report", "rl6:R1")
        == "ref_" + hmac.new(b"r" * 32, b"report\x1frl6:R1", hashlib.sha256).hexdigest()[:32]
    )


def test_rotation_keeps_old_key_usable() -> None:
    old = Pseudonymizer(b"o" * 32, "k1")
    new = Pseudonymizer(b"n" * 32, "k2", {"k1": b"o" * 32})
    assert new.key_id == "k2"
    assert new.pseudonym("E1", "k1") == old.pseudonym("E1")
    assert new.pseudonym("E1") != old.pseudonym("E1")
    assert not new.matches("E1", "ps_x", "k9")


def test_report_references_survive_a_staff_key_rotation() -> None:
    ref = b"r" * 32
    before = Pseudonymizer(b"o" * 32, "k1", reference_key=ref)
    after = Pseudonymizer(b"n" * 32, "k2", {"k1": b"o" * 32}, reference_key=ref)
    assert before.reference("report", "rl6:R1") == after.reference("report", "rl6:R1")
    assert before.pseudonym("E1") != after.pseudonym("E1")


def test_short_key_refused() -> None:
    with pytest.raises(ValueError):
        Pseudonymizer(b"short", "k1")


def test_redaction_masks_contacts_but_not_addresses_or_dates() -> None:
    text = redact("page sent to jane.doe@hospital.org / (617) 525-9797 / +14165550100 on 2026-11-23 via 127.0.0.1:8004")
    assert "jane.doe" not in text and "525-9797" not in text and "4165550100" not in text
    assert "2026-11-23" in text and "127.0.0.1:8004" in text


def test_filter_rewrites_records() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", ("a@b.org",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "to [email]"
