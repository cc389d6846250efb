"""Conversions between SQLite values and domain types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.ideas.rules import Idea, Status
from bot.storage import Row

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


def to_ts(moment: datetime) -> float:
    return moment.timestamp()


def to_us(moment: datetime) -> int:
    """Whole microseconds since the epoch (an aware datetime): to_us(m) / 10**6 == to_ts(m)."""
    return (moment - EPOCH) // ONE_MICROSECOND


def from_us(value: int) -> datetime:
    """The inverse of to_us, exactly."""
    return EPOCH + value * ONE_MICROSECOND


def from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def maybe_ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def maybe_dt(value: float | None) -> datetime | None:
    return None if value is None else from_ts(value)


IDEA_COLUMNS = (
    "id, guild_id, number, author_id, title, body, category, status, status_reason, channel_id, message_id,"
    " thread_id, upvotes, downvotes, merged_into, created_at, updated_at, last_activity_at, challenge_id,"
    " terms_version, anonymous, archived_at, expired_at"
)


def idea_from_row(row: Row) -> Idea:
    return Idea(
        id=row["id"],
        guild_id=row["guild_id"],
        number=row["number"],
        author_id=row["author_id"],
        title=row["title"],
        body=row["body"],
        category=row["category"],
        status=Status(row["status"]),
        status_reason=row["status_reason"],
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        thread_id=row["thread_id"],
        upvotes=row["upvotes"],
        downvotes=row["downvotes"],
        merged_into=row["merged_into"],
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        last_activity_at=from_ts(row["last_activity_at"]),
        challenge_id=row["challenge_id"],
        terms_version=row["terms_version"],
        anonymous=bool(row["anonymous"]),
        archived_at=maybe_dt(row["archived_at"]),
        expired_at=maybe_dt(row["expired_at"]),
    )
