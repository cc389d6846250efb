"""The digest's pure rules: ISO weeks in a time zone, the 'is a digest due?' decision, ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.rules import (
    DigestRuleError,
    DigestSchedule,
    IdeaLine,
    IsoWeek,
    Period,
    VoteActivity,
    compared,
    crossing_line,
    dated_note,
    default_week,
    digest_due,
    parse_schedule,
    parse_week_choice,
    scheduled_time,
    stage_requirement,
    top_new_ideas,
    trending_ideas,
    velocity,
    week_of,
)
from bot.programmes.rules import Stage

W7 = IsoWeek(2025, 7)  # Mon 10 Feb 2025 .. Sun 16 Feb 2025


def test_iso_week_parse_format_and_shift() -> None:
    assert IsoWeek.parse("2025-W07") == W7
    assert str(W7) == "2025-W07"
    assert W7.previous() == IsoWeek(2025, 6)
    assert IsoWeek(2025, 1).previous() == IsoWeek(2024, 52)
    assert IsoWeek(2020, 53).shift(1) == IsoWeek(2021, 1)
    for bad in ("2025-7", "2025W07", "2025-W54", "2025-W00"):
        with pytest.raises(DigestRuleError):
            IsoWeek.parse(bad)


def test_period_is_local_midnight_to_midnight() -> None:
    utc = Period.of(W7, "UTC")
    assert utc.start == datetime(2025, 2, 10, tzinfo=UTC) and utc.end == datetime(2025, 2, 17, tzinfo=UTC)
    berlin = Period.of(W7, "Europe/Berlin")
    assert berlin.start == datetime(2025, 2, 9, 23, tzinfo=UTC)
    # The week containing the spring DST change in Europe is 167 hours long.
    dst = Period.of(IsoWeek(2025, 13), "Europe/Berlin")
    assert dst.end - dst.start == timedelta(hours=167)
    days = dst.day_starts("Europe/Berlin")
    assert len(days) == 8 and days[-1] == dst.end


def test_week_of_uses_the_guild_time_zone() -> None:
    sunday_late_utc = datetime(2025, 2, 16, 23, 30, tzinfo=UTC)
    assert week_of(sunday_late_utc, "UTC") == W7
    assert week_of(sunday_late_utc, "Europe/Berlin") == IsoWeek(2025, 8)  # already Monday in Berlin
    assert default_week(sunday_late_utc, "UTC") == IsoWeek(2025, 6)


def test_scheduled_time_in_zone() -> None:
    schedule = DigestSchedule(weekday=2, hour=9, timezone="America/New_York")
    assert scheduled_time(W7, schedule) == datetime(2025, 2, 12, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "recorded", "expected"),
    [
        (datetime(2025, 2, 17, 8, 59, tzinfo=UTC), set(), None),  # Monday before 09:00
        (datetime(2025, 2, 17, 9, 0, tzinfo=UTC), set(), W7),  # on time: last week's digest
        (datetime(2025, 2, 17, 9, 0, tzinfo=UTC), {W7}, None),  # already posted
        (datetime(2025, 2, 20, 12, 0, tzinfo=UTC), set(), W7),  # missed on Monday: caught up once
        (datetime(2025, 2, 20, 12, 0, tzinfo=UTC), {W7}, None),
        (datetime(2025, 2, 23, 23, 59, tzinfo=UTC), {IsoWeek(2025, 6)}, W7),  # still this week
    ],
)
def test_digest_due(now: datetime, recorded: set[IsoWeek], expected: IsoWeek | None) -> None:
    assert digest_due(now, DigestSchedule(), recorded) == expected


def test_digest_due_after_weeks_down_posts_only_the_latest() -> None:
    now = datetime(2025, 3, 10, 10, tzinfo=UTC)  # W11, bot down since W7
    assert digest_due(now, DigestSchedule(), {IsoWeek(2025, 6)}) == IsoWeek(2025, 10)


def test_digest_due_respects_zone_and_weekday() -> None:
    schedule = DigestSchedule(weekday=4, hour=17, timezone="Asia/Tokyo")  # Friday 17:00 JST = 08:00 UTC
    assert digest_due(datetime(2025, 2, 14, 7, 59, tzinfo=UTC), schedule, set()) is None
    assert digest_due(datetime(2025, 2, 14, 8, 0, tzinfo=UTC), schedule, set()) == IsoWeek(2025, 6)


def test_parse_schedule() -> None:
    assert parse_schedule("monday", 9, "UTC") == (0, 9, "UTC")
    assert parse_schedule("Fri", 17, " Europe/Berlin ") == (4, 17, "Europe/Berlin")
    assert parse_schedule(6, 0, "UTC") == (6, 0, "UTC")
    for args in (("someday", 9, "UTC"), ("monday", 24, "UTC"), ("monday", 9, "Mars/Olympus"), (7, 9, "UTC")):
        with pytest.raises(DigestRuleError):
            parse_schedule(*args)  # type: ignore[arg-type]


def test_counts_against_the_week_before_read_as_words() -> None:
    assert compared(12, 0) == "12, none the week before"
    assert compared(6, 4) == "6, up from 4 the week before"
    assert compared(3, 4) == "3, down from 4 the week before"
    assert compared(5, 5) == "5, as many as the week before"
    assert compared(0, 0) == "none, as the week before"
    assert compared(0, 7) == "none, down from 7 the week before"


def test_week_choice() -> None:
    now = datetime(2030, 3, 5, 12, tzinfo=UTC)  # Tuesday of 2030-W10
    assert parse_week_choice(None, now) == (IsoWeek(2030, 9), False)
    assert parse_week_choice("last", now) == (IsoWeek(2030, 9), False)
    assert parse_week_choice(" Current ", now) == (IsoWeek(2030, 10), True)
    assert parse_week_choice("2030-w08", now) == (IsoWeek(2030, 8), False)
    assert parse_week_choice("2030-W10", now) == (IsoWeek(2030, 10), True)
    for bad in ("2030-W11", "next", "2030-W54"):
        with pytest.raises(DigestRuleError):
            parse_week_choice(bad, now)


def test_no_digest_is_due_for_a_week_that_ended_before_setup() -> None:
    monday_10 = datetime(2030, 3, 11, 10, tzinfo=UTC)
    assert digest_due(monday_10, DigestSchedule(), set()) == IsoWeek(2030, 10)
    assert digest_due(monday_10, DigestSchedule(), set(), set_up_at=monday_10 - timedelta(minutes=30)) is None
    assert digest_due(monday_10, DigestSchedule(), set(), set_up_at=datetime(2030, 3, 8, tzinfo=UTC)) == IsoWeek(
        2030, 10
    )


def _line(number: int, ups: int, downs: int, created: datetime) -> IdeaLine:
    return IdeaLine(number, number, f"Idea {number}", "open", ups, downs, created)


def test_top_new_by_wilson_not_raw_score() -> None:
    start = datetime(2025, 2, 10, tzinfo=UTC)
    ideas = [_line(1, 1, 0, start), _line(2, 20, 5, start), _line(3, 10, 0, start), _line(4, 0, 3, start)]
    assert [i.number for i in top_new_ideas(ideas)] == [3, 2, 1]


def test_trending_compares_with_the_earlier_pace() -> None:
    period = Period.of(W7)
    old = period.start - timedelta(days=70)
    steady = VoteActivity(_line(1, 30, 0, old), recent=3, earlier=30)  # 3/week before
    rising = VoteActivity(_line(2, 12, 0, old), recent=10, earlier=2)
    new = VoteActivity(_line(3, 9, 0, period.start + timedelta(days=1)), recent=9, earlier=0)
    one = VoteActivity(_line(4, 1, 0, old), recent=1, earlier=0)
    found = trending_ideas([steady, rising, new, one], period)
    assert [i.number for i in found] == [2]
    assert "10 votes this week" in found[0].note
    assert velocity(3, 30, 70) == pytest.approx(1.0)


def test_crossings_are_described_by_the_guilds_stages() -> None:
    stages = (Stage(1, 10, 30), Stage(2, 25, 60))
    assert stage_requirement(stages, 2) == "25 upvotes within 60 days"
    assert stage_requirement(stages, 3) == ""  # a stage the guild no longer has
    at = datetime(2025, 2, 12, 10, tzinfo=UTC)
    line = crossing_line(_line(4, 11, 1, at - timedelta(days=3)), 1, 10, at, stages)
    assert line.describe() == "stage 1: 10 upvotes within 30 days" and line.idea.note == line.describe()
    assert crossing_line(_line(5, 30, 0, at), 3, 30, at, stages).describe() == "stage 3"


def test_dated_note_uses_the_guild_time_zone() -> None:
    late = datetime(2025, 2, 12, 23, 30, tzinfo=UTC)  # Wednesday in UTC, Thursday in Berlin
    assert dated_note(_line(1, 0, 0, late), "archived", late).note == "archived Wed 12 Feb"
    assert dated_note(_line(1, 0, 0, late), "expired", late, "Europe/Berlin").note == "expired Thu 13 Feb"
