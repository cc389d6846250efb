"""Blocked members and the audit log of moderator actions."""

from __future__ import annotations

from datetime import datetime

from bot.storage import Conn
from bot.storage.rows import to_ts


async def is_blocked(conn: Conn, guild_id: int, user_id: int) -> bool:
    async with conn.execute(
        "SELECT 1 FROM blocked_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    ) as cursor:
        return await cursor.fetchone() is not None


async def block(conn: Conn, guild_id: int, user_id: int, by: int, now: datetime) -> bool:
    cursor = await conn.execute(
        "INSERT INTO blocked_members (guild_id, user_id, blocked_by, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (guild_id, user_id, by, to_ts(now)),
    )
    return cursor.rowcount > 0


async def unblock(conn: Conn, guild_id: int, user_id: int) -> bool:
    cursor = await conn.execute("DELETE FROM blocked_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    return cursor.rowcount > 0


async def record_action(
    conn: Conn,
    guild_id: int,
    actor_id: int,
    action: str,
    now: datetime,
    idea_id: int | None = None,
    details: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (guild_id, actor_id, action, idea_id, details, at) VALUES (?, ?, ?, ?, ?, ?)",
        (guild_id, actor_id, action, idea_id, details, to_ts(now)),
    )
