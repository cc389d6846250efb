"""The pure reputation rules (bot/reputation/rules.py), with property tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ideas.rules import Status
from bot.reputation.rules import (
    DEFAULT_RULES,
    DISCORD_EPOCH_MS,
    ReputationRules,
    RewardRole,
    Source,
    Trust,
    account_created_at,
    deserved_roles,
    is_serial_voting,
    next_role,
    rank_of,
    role_changes,
    status_bonus,
    submission_points,
    upvote_points,
    vote_change_credit,
    vote_trust,
)

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def snowflake(created: datetime, increment: int = 0) -> int:
    return ((int(created.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22) + increment


def test_contract_defaults() -> None:
    rules = DEFAULT_RULES
    assert (rules.submission_points, rules.submissions_per_day) == (2, 3)
    assert rules.upvote_points == 1
    assert (rules.planned_points, rules.implemented_points) == (10, 25)
    assert rules.min_account_age_days == 7
    assert rules.vote_points_per_day == 50


def test_rules_replace_validates() -> None:
    assert DEFAULT_RULES.replace(upvote_points=3).upvote_points == 3
    with pytest.raises(ValueError, match="unknown"):
        DEFAULT_RULES.replace(bogus=1)
    with pytest.raises(ValueError):
        DEFAULT_RULES.replace(upvote_points=-1)
    with pytest.raises(ValueError):
        DEFAULT_RULES.replace(serial_share_percent=120)


def test_account_age_comes_from_the_snowflake() -> None:
    created = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert abs(account_created_at(snowflake(created, 12345)) - created) < timedelta(milliseconds=1)
    # Discord's documented example: 175928847299117063 was created 2016-04-30 11:18:25.796 UTC.
    assert account_created_at(175928847299117063) == datetime(2016, 4, 30, 11, 18, 25, 796000, tzinfo=UTC)


def test_vote_trust() -> None:
    old = snowflake(NOW - timedelta(days=400))
    young = snowflake(NOW - timedelta(days=6, hours=23))
    assert vote_trust(old, None, NOW, DEFAULT_RULES) is Trust.TRUSTED  # unknown join time: trusted
    assert vote_trust(old, NOW - timedelta(days=3), NOW, DEFAULT_RULES) is Trust.TRUSTED
    assert vote_trust(young, None, NOW, DEFAULT_RULES) is Trust.NEW_ACCOUNT
    assert vote_trust(snowflake(NOW - timedelta(days=7, seconds=1)), None, NOW, DEFAULT_RULES) is Trust.TRUSTED
    assert vote_trust(old, NOW - timedelta(hours=2), NOW, DEFAULT_RULES) is Trust.NEW_MEMBER
    relaxed = DEFAULT_RULES.replace(min_member_age_hours=0, min_account_age_days=0)
    assert vote_trust(young, NOW, NOW, relaxed) is Trust.TRUSTED


def test_submission_points_count_three_a_day() -> None:
    assert [submission_points(DEFAULT_RULES, n) for n in range(5)] == [2, 2, 2, 0, 0]


def test_upvote_points_respect_the_daily_cap() -> None:
    assert upvote_points(DEFAULT_RULES, 0) == 1
    assert upvote_points(DEFAULT_RULES, 49) == 1
    assert upvote_points(DEFAULT_RULES, 50) == 0
    assert upvote_points(DEFAULT_RULES.replace(upvote_points=3, vote_points_per_day=4), 2) == 2
    assert upvote_points(DEFAULT_RULES, -10) == 1  # reversals never raise the cap


def test_status_bonus() -> None:
    assert status_bonus(DEFAULT_RULES, Status.PLANNED) == (Source.PLANNED, 10)
    assert status_bonus(DEFAULT_RULES, Status.IMPLEMENTED) == (Source.IMPLEMENTED, 25)
    assert status_bonus(DEFAULT_RULES, Status.DECLINED) is None


def test_vote_change_credit_cases() -> None:
    def credit(old: int | None, new: int | None, outstanding: int, earns: bool = True, today: int = 0) -> int:
        return vote_change_credit(
            old, new, outstanding, earns=earns, rules=DEFAULT_RULES, vote_points_last_day=today
        ).delta

    assert credit(None, 1, 0) == 1
    assert credit(None, 1, 0, earns=False) == 0
    assert credit(None, 1, 0, today=50) == 0
    assert credit(1, None, 1) == -1
    assert credit(1, -1, 1) == -1
    assert credit(-1, 1, 0) == 1
    assert credit(None, -1, 0) == 0  # downvotes never cost points
    assert credit(1, None, 0) == 0  # nothing was earned, nothing moves back
    assert credit(None, 1, 1) == 0  # already credited (e.g. a recount replays it)


def test_serial_voting_needs_count_and_share() -> None:
    times = [NOW - timedelta(minutes=m) for m in (0, 1, 2, 3, 4)]
    assert is_serial_voting(times, author_recent_ideas=5, now=NOW, rules=DEFAULT_RULES)
    assert is_serial_voting(times, author_recent_ideas=6, now=NOW, rules=DEFAULT_RULES)  # 5/6 ≥ 80 %
    assert not is_serial_voting(times, author_recent_ideas=7, now=NOW, rules=DEFAULT_RULES)  # 5/7 < 80 %
    assert not is_serial_voting(times[:4], author_recent_ideas=4, now=NOW, rules=DEFAULT_RULES)
    spread = [NOW - timedelta(minutes=m) for m in (0, 3, 6, 9, 12)]
    assert not is_serial_voting(spread, author_recent_ideas=5, now=NOW, rules=DEFAULT_RULES)
    assert not is_serial_voting(times, 5, NOW, DEFAULT_RULES.replace(serial_min_votes=0))


def test_roles_follow_the_total() -> None:
    roles = [RewardRole(1, 10), RewardRole(2, 50), RewardRole(3, 0)]
    assert deserved_roles(0, roles) == set()
    assert deserved_roles(12, roles) == {1, 3}
    changes = role_changes(12, roles, held=[2, 99])
    assert changes.add == (1, 3) and changes.remove == (2,)  # 99 is not ours to manage
    assert not role_changes(12, roles, held=[1, 3])
    upcoming = next_role(12, roles)
    assert upcoming == (RewardRole(2, 50), 38)
    assert next_role(60, roles) is None


def test_rank_shares_ties() -> None:
    assert rank_of(10, [30, 10, 10, 5]) == 2
    assert rank_of(30, [30, 10]) == 1


votes_ops = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from([1, -1, None]), st.booleans(), st.integers(0, 40)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops=votes_ops, per_vote=st.integers(0, 5), cap=st.integers(0, 20))
def test_votes_ending_in_none_return_vote_points_to_zero(
    ops: list[tuple[int, int | None, bool, int]], per_vote: int, cap: int
) -> None:
    """Pure model of the ledger: one author, six voters, trust flipping arbitrarily, a daily cap
    that binds. Whatever happens, once every vote is withdrawn the vote points are zero, and at
    every step the credit is between 0 and the cap's reach."""
    rules = ReputationRules(upvote_points=per_vote, vote_points_per_day=cap)
    rows: list[tuple[int, int, float]] = []  # voter, delta, hour
    current: dict[int, int | None] = {}
    hour = 0.0

    def outstanding(voter: int) -> int:
        return sum(d for v, d, _ in rows if v == voter)

    def apply(voter: int, new: int | None, earns: bool) -> None:
        old = current.get(voter)
        if old == new:
            return
        today = sum(d for _, d, h in rows if h > hour - 24)
        credit = vote_change_credit(old, new, outstanding(voter), earns=earns, rules=rules, vote_points_last_day=today)
        if credit.delta:
            rows.append((voter, credit.delta, hour))
        current[voter] = new
        assert 0 <= outstanding(voter) <= per_vote

    for voter, new, earns, hours in ops:
        hour += hours
        apply(voter, new, earns)
    for voter in list(current):
        apply(voter, None, True)
    assert sum(d for _, d, _ in rows) == 0
