"""Display names of members and roles, for the digest and its exports (migration 0014)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.storage import Conn
from bot.storage.rows import to_ts


async def save_member_names(conn: Conn, guild_id: int, names: Iterable[tuple[int, str]], now: datetime) -> None:
    await conn.executemany(
        "INSERT INTO member_names (guild_id, user_id, display_name, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(guild_id, user_id) DO UPDATE SET display_name = excluded.display_name,"
        " updated_at = excluded.updated_at",
        [(guild_id, user_id, name, to_ts(now)) for user_id, name in names],
    )


async def save_role_names(conn: Conn, guild_id: int, names: Iterable[tuple[int, str]], now: datetime) -> None:
    await conn.executemany(
        "INSERT INTO role_names (guild_id, role_id, name, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(guild_id, role_id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
        [(guild_id, role_id, name, to_ts(now)) for role_id, name in names],
    )


async def _lookup(conn: Conn, sql: str, guild_id: int, ids: Sequence[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found: dict[int, str] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        marks = ",".join("?" * len(chunk))
        async with conn.execute(sql.format(marks=marks), (guild_id, *chunk)) as cursor:
            found.update({int(row[0]): str(row[1]) for row in await cursor.fetchall()})
    return found


async def member_names(conn: Conn, guild_id: int, user_ids: Sequence[int]) -> dict[int, str]:
    return await _lookup(
        conn,
        "SELECT user_id, display_name FROM member_names WHERE guild_id = ? AND user_id IN ({marks})",
        guild_id,
        user_ids,
    )


async def role_names(conn: Conn, guild_id: int, role_ids: Sequence[int]) -> dict[int, str]:
    return await _lookup(
        conn, "SELECT role_id, name FROM role_names WHERE guild_id = ? AND role_id IN ({marks})", guild_id, role_ids
    )


async def save_member_locale(conn: Conn, user_id: int, locale: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO member_locales (user_id, locale, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(user_id) DO UPDATE SET locale = excluded.locale, updated_at = excluded.updated_at",
        (user_id, locale, to_ts(now)),
    )


async def member_locale(conn: Conn, user_id: int) -> str | None:
    async with conn.execute("SELECT locale FROM member_locales WHERE user_id = ?", (user_id,)) as cursor:
        row = await cursor.fetchone()
    return str(row[0]) if row is not None else None
