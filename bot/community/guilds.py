"""Per-guild settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.storage import Conn
from bot.storage.rows import from_ts, to_ts


@dataclass(frozen=True, slots=True)
class GuildSettings:
    guild_id: int
    ideas_channel_id: int | None = None
    digest_channel_id: int | None = None
    log_channel_id: int | None = None
    moderator_role_id: int | None = None
    submit_cooldown_seconds: int = 60
    daily_submission_quota: int = 5
    # The catalogue language of public messages; None: the server's preferred locale.
    language: str | None = None

    @property
    def is_set_up(self) -> bool:
        return self.ideas_channel_id is not None


async def get_guild_settings(conn: Conn, guild_id: int) -> GuildSettings:
    async with conn.execute(
        "SELECT guild_id, ideas_channel_id, digest_channel_id, log_channel_id, moderator_role_id,"
        " submit_cooldown_seconds, daily_submission_quota, language FROM guild_settings WHERE guild_id = ?",
        (guild_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return GuildSettings(guild_id=guild_id)
    return GuildSettings(**dict(row))


async def save_channels(
    conn: Conn,
    guild_id: int,
    *,
    ideas_channel_id: int,
    digest_channel_id: int,
    log_channel_id: int | None,
    moderator_role_id: int | None,
    language: str | None = None,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO guild_settings (guild_id, ideas_channel_id, digest_channel_id, log_channel_id,"
        " moderator_role_id, language, updated_at, set_up_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(guild_id) DO UPDATE SET ideas_channel_id = excluded.ideas_channel_id,"
        " set_up_at = COALESCE(guild_settings.set_up_at, excluded.set_up_at),"
        " digest_channel_id = excluded.digest_channel_id, log_channel_id = excluded.log_channel_id,"
        " moderator_role_id = excluded.moderator_role_id, language = excluded.language,"
        " updated_at = excluded.updated_at",
        (
            guild_id,
            ideas_channel_id,
            digest_channel_id,
            log_channel_id,
            moderator_role_id,
            language,
            to_ts(now),
            to_ts(now),
        ),
    )


async def save_submission_limits(
    conn: Conn, guild_id: int, *, cooldown_seconds: int, daily_quota: int, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO guild_settings (guild_id, submit_cooldown_seconds, daily_submission_quota, updated_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT(guild_id) DO UPDATE SET"
        " submit_cooldown_seconds = excluded.submit_cooldown_seconds,"
        " daily_submission_quota = excluded.daily_submission_quota, updated_at = excluded.updated_at",
        (guild_id, cooldown_seconds, daily_quota, to_ts(now)),
    )


async def set_up_at(conn: Conn, guild_id: int) -> datetime | None:
    """When the guild was first set up (None: never)."""
    async with conn.execute("SELECT set_up_at FROM guild_settings WHERE guild_id = ?", (guild_id,)) as cursor:
        row = await cursor.fetchone()
    return from_ts(row[0]) if row is not None and row[0] is not None else None


async def set_up_guilds(conn: Conn) -> list[int]:
    async with conn.execute(
        "SELECT guild_id FROM guild_settings WHERE ideas_channel_id IS NOT NULL ORDER BY guild_id"
    ) as cursor:
        return [int(row[0]) for row in await cursor.fetchall()]
