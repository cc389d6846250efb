"""Reputation rules: how many points an action earns, which votes are trusted, when voting
looks serial, and which reward roles a total deserves. Pure: no discord, no SQL.

The ledger is append-only: every point is a row with a reason, and a reversal is a new row
with the opposite sign. A vote's credit is keyed by (idea, voter, recipient), so withdrawing
or switching a vote moves back exactly what that vote earned, whatever cap or trust rule
limited it at the time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.ideas.rules import Status

DISCORD_EPOCH_MS = 1420070400000
DAY = timedelta(days=1)


class Source(StrEnum):
    """The machine key of a ledger row (`reputation_events.source`)."""

    SUBMISSION = "submission"
    UPVOTE = "upvote"
    PLANNED = "planned"
    IMPLEMENTED = "implemented"
    CHALLENGE_WIN = "challenge_win"
    REVERSAL = "reversal"


@dataclass(frozen=True, slots=True)
class ReputationRules:
    """Per-guild rules; the defaults are the documented ones. Windows for the daily caps are the
    24 hours before the event (rolling, so no midnight edge in any time zone)."""

    submission_points: int = 2
    submissions_per_day: int = 3
    upvote_points: int = 1
    vote_points_per_day: int = 50
    planned_points: int = 10
    implemented_points: int = 25
    min_account_age_days: int = 7
    min_member_age_hours: int = 24
    serial_min_votes: int = 5
    serial_window_minutes: int = 10
    serial_share_percent: int = 80
    serial_recent_days: int = 30
    serial_block_hours: int = 24

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def replace(self, **changes: int) -> ReputationRules:
        unknown = set(changes) - set(self.names())
        if unknown:
            raise ValueError(f"unknown reputation rule(s): {', '.join(sorted(unknown))}")
        values = {name: getattr(self, name) for name in self.names()}
        values.update(changes)
        rules = ReputationRules(**values)
        rules.validate()
        return rules

    def validate(self) -> None:
        for name in self.names():
            value = getattr(self, name)
            if not 0 <= value <= 100_000:
                raise ValueError(f"{name} must be between 0 and 100000 (got {value}).")
        if self.serial_share_percent > 100:
            raise ValueError("serial_share_percent is a percentage: 0 to 100.")


DEFAULT_RULES = ReputationRules()


# --- trust ---------------------------------------------------------------------------------


class Trust(StrEnum):
    TRUSTED = "trusted"
    NEW_ACCOUNT = "new_account"
    NEW_MEMBER = "new_member"


def account_created_at(user_id: int) -> datetime:
    """When a Discord account was created, from its snowflake id."""
    return datetime.fromtimestamp(((user_id >> 22) + DISCORD_EPOCH_MS) / 1000, tz=UTC)


def vote_trust(voter_id: int, joined_at: datetime | None, at: datetime, rules: ReputationRules) -> Trust:
    """Whether a vote may earn its target reputation. An unknown join time counts as trusted
    (Discord omits the member on some events); the account age is always known."""
    if at - account_created_at(voter_id) < timedelta(days=rules.min_account_age_days):
        return Trust.NEW_ACCOUNT
    if joined_at is not None and at - joined_at < timedelta(hours=rules.min_member_age_hours):
        return Trust.NEW_MEMBER
    return Trust.TRUSTED


# --- points --------------------------------------------------------------------------------


def submission_points(rules: ReputationRules, counted_last_day: int) -> int:
    """Points for a new idea, given how many submissions earned points in the last 24 hours."""
    if counted_last_day >= rules.submissions_per_day:
        return 0
    return max(rules.submission_points, 0)


def upvote_points(rules: ReputationRules, vote_points_last_day: int) -> int:
    """Points for one counted upvote, given the net vote points earned in the last 24 hours."""
    room = rules.vote_points_per_day - max(vote_points_last_day, 0)
    return max(min(rules.upvote_points, room), 0)


def status_bonus(rules: ReputationRules, status: Status) -> tuple[Source, int] | None:
    """The bonus an idea's authors earn when it reaches `status` (once per idea and kind)."""
    if status is Status.PLANNED:
        return Source.PLANNED, rules.planned_points
    if status is Status.IMPLEMENTED:
        return Source.IMPLEMENTED, rules.implemented_points
    return None


def reversal(outstanding: int) -> int:
    """The row that takes back what is still credited (0: nothing to write)."""
    return -outstanding


@dataclass(frozen=True, slots=True)
class VoteCredit:
    """What a vote change writes for the idea's author: a credit, a reversal, or nothing."""

    delta: int
    source: Source | None


def vote_change_credit(
    old: int | None,
    new: int | None,
    outstanding: int,
    *,
    earns: bool,
    rules: ReputationRules,
    vote_points_last_day: int,
) -> VoteCredit:
    """The ledger row for one voter moving from `old` to `new` on an idea.

    `outstanding` is what this vote currently credits the author (sum of its rows). An upvote
    earns when `earns` (trusted, not serial) within the daily cap; anything else takes back
    what is outstanding. Downvotes never cost points."""
    if new == 1:
        if outstanding > 0 or not earns:
            return VoteCredit(0, None)
        points = upvote_points(rules, vote_points_last_day)
        return VoteCredit(points, Source.UPVOTE if points else None)
    if outstanding != 0:
        return VoteCredit(reversal(outstanding), Source.REVERSAL)
    return VoteCredit(0, None)


# --- serial voting -------------------------------------------------------------------------


def is_serial_voting(
    upvote_times: Iterable[datetime], author_recent_ideas: int, now: datetime, rules: ReputationRules
) -> bool:
    """One voter up-voting most ideas of one author in a short window.

    `upvote_times`: when the voter's current upvotes on that author's ideas were cast;
    `author_recent_ideas`: how many ideas the author posted within `serial_recent_days`."""
    if rules.serial_min_votes <= 0:
        return False
    window = timedelta(minutes=rules.serial_window_minutes)
    recent = sum(1 for moment in upvote_times if now - window <= moment <= now)
    if recent < rules.serial_min_votes:
        return False
    return recent * 100 >= rules.serial_share_percent * max(author_recent_ideas, 1)


@dataclass(frozen=True, slots=True)
class SerialLookback:
    """How far back `upvote_verdict` looks, so callers load just that history."""

    flags_since: datetime  # a serial-voting flag after this still blocks the pair
    upvotes_since: datetime  # the voter's upvotes on the author's ideas that count toward a pattern
    ideas_since: datetime  # the author's ideas that the share is measured against


def serial_lookback(rules: ReputationRules, at: datetime) -> SerialLookback:
    return SerialLookback(
        at - timedelta(hours=rules.serial_block_hours),
        at - timedelta(minutes=rules.serial_window_minutes),
        at - timedelta(days=rules.serial_recent_days),
    )


def upvote_verdict(
    rules: ReputationRules,
    voter_id: int,
    joined_at: datetime | None,
    at: datetime,
    *,
    flagged_at: datetime | None,
    upvote_times: Iterable[datetime],
    author_recent_ideas: int,
) -> tuple[bool, int | None]:
    """Whether an upvote earns its author reputation: (earns, votes), where `votes` is set when
    this upvote newly reveals serial voting (the caller records the flag). `flagged_at`: the
    pair's latest flag; `upvote_times`: the voter's current upvotes on the author's ideas."""
    if vote_trust(voter_id, joined_at, at, rules) is not Trust.TRUSTED:
        return False, None
    if rules.serial_min_votes <= 0:
        return True, None
    lookback = serial_lookback(rules, at)
    if flagged_at is not None and flagged_at > lookback.flags_since:
        return False, None
    times = [moment for moment in upvote_times if moment > lookback.upvotes_since]
    if not is_serial_voting(times, author_recent_ideas, at, rules):
        return True, None
    return False, len(times)


# --- roles and ranks -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RewardRole:
    role_id: int
    points: int


@dataclass(frozen=True, slots=True)
class RoleChanges:
    add: tuple[int, ...]
    remove: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


def deserved_roles(total: int, roles: Iterable[RewardRole]) -> set[int]:
    """Every reward role whose threshold the total reaches (thresholds of 0 need a positive total)."""
    return {role.role_id for role in roles if total >= role.points and total > 0}


def role_changes(total: int, roles: Iterable[RewardRole], held: Iterable[int]) -> RoleChanges:
    """What to add and remove so the member holds exactly the reward roles they deserve.
    `held`: the reward roles the bot believes the member has."""
    roles = list(roles)
    managed = {role.role_id for role in roles}
    want = deserved_roles(total, roles)
    have = set(held) & managed
    return RoleChanges(tuple(sorted(want - have)), tuple(sorted(have - want)))


def next_role(total: int, roles: Iterable[RewardRole]) -> tuple[RewardRole, int] | None:
    """The lowest threshold not reached yet and the points still to go."""
    ahead = sorted((role for role in roles if role.points > total), key=lambda r: (r.points, r.role_id))
    if not ahead:
        return None
    return ahead[0], ahead[0].points - total


def rank_of(total: int, others: Sequence[int]) -> int:
    """1 + how many members have strictly more points (ties share a rank)."""
    return 1 + sum(1 for other in others if other > total)


# --- windows over a batch ------------------------------------------------------------------


class SumAfter:
    """Values stamped with a moment, summed over those after a given moment. A batch asks
    about the same moment again and again (its events share one), so the last answer is kept
    and moved along as values are added."""

    def __init__(self, entries: Iterable[tuple[datetime, int]] = ()) -> None:
        self._entries = list(entries)
        self._since: datetime | None = None
        self._sum = 0

    def after(self, since: datetime) -> int:
        if since != self._since:
            self._since = since
            self._sum = sum(value for moment, value in self._entries if moment > since)
        return self._sum

    def add(self, moment: datetime, value: int) -> None:
        self._entries.append((moment, value))
        if self._since is not None and moment > self._since:
            self._sum += value
