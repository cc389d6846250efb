import pytest

from bot.ideas.rules import (
    DETAILS_MAX,
    TITLE_MAX,
    IdeaRuleError,
    Status,
    compose_details,
    parse_status,
    validate_draft,
    validate_reason,
    visible_length,
)


def test_valid_draft_keeps_text_exact_but_trimmed() -> None:
    draft = validate_draft("  Dark mode  ", "Please add a dark theme @everyone <@1>", " UX ")
    assert draft.title == "Dark mode"
    assert draft.details == "Please add a dark theme @everyone <@1>"
    assert draft.category == "UX"


@pytest.mark.parametrize(
    ("title", "details", "message"),
    [
        ("x" * (TITLE_MAX + 1), "long enough details", "title is too long"),
        ("abc", "long enough details", "title is too short"),
        ("Good title", "short", "details are too short"),
        ("Good title", "d" * (DETAILS_MAX + 1), "details are too long"),
        ("Two\nlines", "long enough details", "single line"),
    ],
)
def test_bad_drafts_are_refused_with_a_clear_message(title: str, details: str, message: str) -> None:
    with pytest.raises(IdeaRuleError, match=message):
        validate_draft(title, details)


def test_declined_needs_a_reason() -> None:
    with pytest.raises(IdeaRuleError, match="needs a reason"):
        validate_reason(Status.DECLINED, "  ")
    assert validate_reason(Status.PLANNED, None) is None


def test_parse_status() -> None:
    assert parse_status("Planned") is Status.PLANNED
    with pytest.raises(IdeaRuleError, match="Unknown status"):
        parse_status("maybe")
    with pytest.raises(IdeaRuleError):
        parse_status("withdrawn")


def test_compose_details_skips_empty_parts() -> None:
    text = compose_details("Slow builds", "Cache them", "")
    assert "**Problem**\nSlow builds" in text and "Who benefits" not in text


@pytest.mark.parametrize(
    ("text", "seen"),
    [
        ("Dark\u200bmode", 8),
        ("\u200b\u200c\u200d\u2060\ufeff", 0),
        ("\u3164\u115f\u1160\uffa0\u2800", 0),
        ("\u0301\u0301\u0301", 0),  # marks with no base show nothing
        ("\u0938\u0941\u091d\u093e\u0935", 5),  # Devanagari vowel signs count on their base
        ("\U000e0041\u00ad\u202e", 0),  # a tag, a soft hyphen, a bidi override
    ],
)
def test_visible_length_counts_what_a_reader_sees(text: str, seen: int) -> None:
    assert visible_length(text) == seen


def test_invisible_only_text_is_refused_but_kept_as_given_otherwise() -> None:
    with pytest.raises(IdeaRuleError, match="title has no visible text"):
        validate_draft("\u200b\u3164\u2800\u200b", "Details long enough to pass")
    with pytest.raises(IdeaRuleError, match="details has no visible text"):
        validate_draft("Dark mode", "\u200b" * 20)
    with pytest.raises(IdeaRuleError, match="title is too short"):
        validate_draft("ab\u200b\u200b\u200b", "Details long enough to pass")
    with pytest.raises(IdeaRuleError, match="visible text"):
        validate_reason(Status.DECLINED, "\u200b")
    assert validate_draft("Dark\u200bmode", "Details long enough to pass").title == "Dark\u200bmode"
