"""Status-change notices owed: status_history rows without notified_at, and how far the
delivery of each got (notice_recipients). See migration 0013."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.shards import EVERY_GUILD, ShardPlan
from bot.ideas.rules import Status
from bot.storage import Conn, is_postgres
from bot.storage.rows import to_ts
from bot.storage.shards import owned_guilds


@dataclass(frozen=True, slots=True)
class OwedNotice:
    history_id: int
    idea_id: int
    old_status: Status
    new_status: Status
    reason: str | None
    moderator_id: int | None


async def owed(conn: Conn, limit: int = 50, shards: ShardPlan = EVERY_GUILD) -> list[OwedNotice]:
    """Status changes whose notices are not all delivered, oldest first, of the guilds this
    process owns. A withdrawal is the author's own act: nobody is told."""
    async with conn.execute(
        "SELECT h.id, h.idea_id, h.old_status, h.new_status, h.reason, h.moderator_id FROM status_history h"
        " LEFT JOIN ideas i ON i.id = h.idea_id"
        " WHERE h.notified_at IS NULL AND h.new_status != 'withdrawn'"
        f" AND (i.guild_id IS NULL OR {owned_guilds('i.guild_id', shards)}) ORDER BY h.id LIMIT ?",
        (limit,),
    ) as cursor:
        return [
            OwedNotice(row[0], row[1], Status(row[2]), Status(row[3]), row[4], row[5])
            for row in await cursor.fetchall()
        ]


async def recipients(conn: Conn, history_id: int) -> dict[int, str]:
    """user id -> 'pending' | 'sent' | 'unreachable', in the order they were fixed."""
    # SQLite's rowid is the order of insertion; PostgreSQL keeps none, so there by user id.
    order = "user_id" if is_postgres(conn) else "rowid"
    async with conn.execute(
        f"SELECT user_id, state FROM notice_recipients WHERE history_id = ? ORDER BY {order}", (history_id,)
    ) as cursor:
        return {row[0]: row[1] for row in await cursor.fetchall()}


async def fix_recipients(conn: Conn, history_id: int, user_ids: list[int]) -> None:
    await conn.executemany(
        "INSERT INTO notice_recipients (history_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(history_id, user_id) for user_id in user_ids],
    )


async def mark(conn: Conn, history_id: int, user_id: int, state: str) -> None:
    await conn.execute(
        "UPDATE notice_recipients SET state = ? WHERE history_id = ? AND user_id = ?", (state, history_id, user_id)
    )


async def done(conn: Conn, history_id: int, now: datetime) -> None:
    await conn.execute("UPDATE status_history SET notified_at = ? WHERE id = ?", (to_ts(now), history_id))
