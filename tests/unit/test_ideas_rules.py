import pytest

from bot.domain.ideas import (
    DETAILS_MAX,
    TITLE_MAX,
    IdeaRuleError,
    Status,
    compose_details,
    parse_status,
    validate_draft,
    validate_reason,
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
