"""Phrase rules: one joined expression rules out a text that fires nothing, without changing what fires."""

from __future__ import annotations

import pytest

from psp_common.events.vocab import CisTrigger
from psp_listener.adapters.phrases import DEFAULT_RULES, PhraseMatcher, PhraseRule, any_of

TEXTS = [
    "Synthetic benchmark narrative; nothing of note.",
    "CODE BLUE called for a toddler in the ED, CPR started",
    "Our nurse was punched by a visitor who had a knife",
    "a staff member was injured lifting; reporters at the door",
    "the relative of a nurse died unexpectedly; formal complaint filed",
    "suicide of a colleague on nights",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_joined_expression_changes_nothing_that_fires(text: str) -> None:
    joined = PhraseMatcher(DEFAULT_RULES)
    each = PhraseMatcher(DEFAULT_RULES)
    each.any = None  # every rule on its own, as without the joined expression
    for age in ("adult", "child", None):
        assert joined.flags([text], age) == each.flags([text], age)


def test_a_text_no_pattern_matches_consults_no_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    matcher = PhraseMatcher(DEFAULT_RULES)

    def consulted(*_a: object) -> bool:
        raise AssertionError("a rule was consulted for a text no pattern matches")

    monkeypatch.setattr(PhraseRule, "matches", consulted)
    assert matcher.flags([TEXTS[0]], "adult") == ()
    with pytest.raises(AssertionError):  # a text some pattern matches does go through the rules
        matcher.flags([TEXTS[1]], "adult")


def test_patterns_that_cannot_be_joined_are_matched_one_by_one() -> None:
    doubled = PhraseRule(patterns=(r"\b(\w+) \1\b",), trigger=CisTrigger.EXCESSIVE_MEDIA_INTEREST)
    flagged = PhraseRule(patterns=(r"(?i)news crew",), trigger=CisTrigger.EXCESSIVE_MEDIA_INTEREST)
    assert any_of(doubled.patterns) is None and any_of(flagged.patterns) is None
    matcher = PhraseMatcher([*DEFAULT_RULES, doubled])
    assert matcher.any is None
    assert matcher.flags(["the the end"]) == (CisTrigger.EXCESSIVE_MEDIA_INTEREST,)
