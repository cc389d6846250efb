"""Facts the services publish after they are durable; other features subscribe to them
(reputation, thresholds, notifications) so the core flow never needs to know about them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bot.digest.rules import Digest
from bot.ideas.rules import Status


@dataclass(frozen=True, slots=True)
class IdeaSubmitted:
    guild_id: int
    idea_id: int
    author_id: int
    at: datetime


class VoteChanged(NamedTuple):
    """One per effective reaction: a NamedTuple (immutable like the others) because a burst
    builds tens of thousands, and a frozen dataclass costs about four times as much to build."""

    guild_id: int
    idea_id: int
    author_id: int
    voter_id: int
    old_value: int | None
    new_value: int | None
    voter_joined_at: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class IdeaStatusChanged:
    guild_id: int
    idea_id: int
    author_id: int
    old_status: Status
    new_status: Status
    reason: str | None
    moderator_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class IdeaWithdrawn:
    guild_id: int
    idea_id: int
    author_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class MovedVote:
    voter_id: int
    value: int
    # False when the voter already had a vote on the target: the moved vote was dropped.
    kept: bool
    voter_joined_at: datetime | None


@dataclass(frozen=True, slots=True)
class IdeasMerged:
    guild_id: int
    source_id: int
    target_id: int
    source_author_id: int
    target_author_id: int
    moved_votes: tuple[MovedVote, ...]
    moderator_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class StageReached:
    guild_id: int
    idea_id: int
    stage: int
    votes: int
    days: int
    at: datetime


@dataclass(frozen=True, slots=True)
class DigestPosted:
    """A digest is in the digest channel; `digest` is what was posted (rendered for the public)."""

    guild_id: int
    week: str
    channel_id: int
    message_id: int
    digest: Digest
    at: datetime
