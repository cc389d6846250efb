"""The pure programme rules: stages, deadlines, expiry, archiving, challenges, terms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.ideas.ranking import Rankable
from bot.ideas.rules import IdeaRuleError
from bot.programmes.rules import (
    DEFAULT_STAGES,
    Stage,
    format_stages,
    has_expired,
    next_stage,
    parse_deadline,
    parse_stages,
    pick_winners,
    should_archive,
    stages_reached,
    validate_archive_days,
    validate_challenge,
    validate_terms,
    win_points,
)

START = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_default_stages_are_10_in_30_days_then_25_in_60() -> None:
    assert (Stage(1, 10, 30), Stage(2, 25, 60)) == DEFAULT_STAGES
    assert parse_stages(format_stages(DEFAULT_STAGES)) == DEFAULT_STAGES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/30 25/60", ((10, 30), (25, 60))),
        ("5/7, 50/90; 500/365", ((5, 7), (50, 90), (500, 365))),
        (" 3 / 10 ", ((3, 10),)),
    ],
)
def test_parse_stages(text: str, expected: tuple[tuple[int, int], ...]) -> None:
    stages = parse_stages(text)
    assert [(s.votes, s.days) for s in stages] == list(expected)
    assert [s.number for s in stages] == list(range(1, len(expected) + 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one stage"),
        ("ten/30", "not a stage"),
        ("10/30 5/60", "more votes"),
        ("10/30 25/20", "not fewer days"),
        ("0/30", "between 1"),
        ("10/0", "between 1"),
        ("1/1 2/2 3/3 4/4 5/5 6/6", "At most"),
    ],
)
def test_parse_stages_refuses_bad_input(text: str, message: str) -> None:
    with pytest.raises(IdeaRuleError, match=message):
        parse_stages(text)


def test_stages_are_reached_in_order_within_their_deadlines() -> None:
    day = timedelta(days=1)
    assert stages_reached(DEFAULT_STAGES, 0, 9, START, START + day) == []
    assert stages_reached(DEFAULT_STAGES, 0, 10, START, START + 30 * day) == [DEFAULT_STAGES[0]]
    assert stages_reached(DEFAULT_STAGES, 0, 10, START, START + 30 * day + timedelta(seconds=1)) == []
    # A jump straight to 25 reaches both stages at once.
    assert stages_reached(DEFAULT_STAGES, 0, 30, START, START + 2 * day) == list(DEFAULT_STAGES)
    assert stages_reached(DEFAULT_STAGES, 1, 30, START, START + 45 * day) == [DEFAULT_STAGES[1]]
    assert stages_reached(DEFAULT_STAGES, 1, 30, START, START + 61 * day) == []
    assert stages_reached(DEFAULT_STAGES, 2, 300, START, START + day) == []
    # Stage 1 missed: stage 2 cannot be reached either, even with enough votes in its window.
    assert stages_reached(DEFAULT_STAGES, 0, 30, START, START + 40 * day) == []


def test_expiry_follows_the_next_stage_deadline() -> None:
    day = timedelta(days=1)
    assert not has_expired(DEFAULT_STAGES, 0, START, START + 30 * day)
    assert has_expired(DEFAULT_STAGES, 0, START, START + 30 * day + timedelta(seconds=1))
    assert not has_expired(DEFAULT_STAGES, 1, START, START + 59 * day)
    assert has_expired(DEFAULT_STAGES, 1, START, START + 61 * day)
    assert not has_expired(DEFAULT_STAGES, 2, START, START + 9999 * day)  # every stage reached
    assert next_stage(DEFAULT_STAGES, 0) == DEFAULT_STAGES[0]
    assert next_stage(DEFAULT_STAGES, 2) is None


def test_archiving_after_the_quiet_period() -> None:
    assert not should_archive(START, START + timedelta(days=179, hours=23), 180)
    assert should_archive(START, START + timedelta(days=180), 180)
    assert validate_archive_days(180) == 180
    with pytest.raises(IdeaRuleError):
        validate_archive_days(3)


def test_deadlines_parse_as_utc() -> None:
    now = datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert parse_deadline("2026-05-20", now) == datetime(2026, 5, 20, 23, 59, tzinfo=UTC)
    assert parse_deadline("2026-05-20 18:30", now) == datetime(2026, 5, 20, 18, 30, tzinfo=UTC)
    assert parse_deadline("2026-05-20T18:30", now) == datetime(2026, 5, 20, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("next friday", "not a deadline"),
        ("2026-02-30", "not a deadline"),
        ("2026-05-20 25:00", "not a deadline"),
        ("20/05/2026", "not a deadline"),
        ("2026-04-30", "in the future"),
        ("2026-05-01 09:59", "in the future"),
        ("2030-01-01", "too far"),
    ],
)
def test_bad_deadlines_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(IdeaRuleError, match=message):
        parse_deadline(text, datetime(2026, 5, 1, 10, tzinfo=UTC))


def test_challenge_validation() -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    draft = validate_challenge("  Greener office ", " Ideas to cut our energy use ", "  ", "2026-06-01", now)
    assert (draft.title, draft.brief, draft.award) == ("Greener office", "Ideas to cut our energy use", None)
    with pytest.raises(IdeaRuleError, match="title"):
        validate_challenge("Go", "a long enough brief", None, "2026-06-01", now)
    with pytest.raises(IdeaRuleError, match="brief"):
        validate_challenge("Greener office", "short", None, "2026-06-01", now)
    with pytest.raises(IdeaRuleError, match="award"):
        validate_challenge("Greener office", "a long enough brief", "x" * 201, "2026-06-01", now)


def test_winners_by_wilson_lower_bound_and_never_without_upvotes() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    entries = [
        Rankable(1, 1, 0, at),  # 100 % but one vote
        Rankable(2, 40, 10, at),  # many votes, mostly positive: best
        Rankable(3, 12, 2, at),
        Rankable(4, 0, 3, at),  # never wins
        Rankable(5, 0, 0, at),
    ]
    assert [w.key for w in pick_winners(entries)] == [2, 3, 1]
    assert [w.key for w in pick_winners(entries[3:])] == []
    assert [win_points(p) for p in (1, 2, 3, 4)] == [15, 10, 5, 0]


def test_terms_validation() -> None:
    assert validate_terms("  Ideas you share are licensed CC-BY.  ", " 2026-1 ") == (
        "Ideas you share are licensed CC-BY.",
        "2026-1",
    )
    with pytest.raises(IdeaRuleError, match="terms need"):
        validate_terms("too short", "1")
    with pytest.raises(IdeaRuleError, match="version"):
        validate_terms("Ideas you share are licensed CC-BY.", "version one")
    with pytest.raises(IdeaRuleError, match="version"):
        validate_terms("Ideas you share are licensed CC-BY.", "")
