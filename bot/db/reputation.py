"""Reputation: the append-only ledger, per-guild rules, reward roles, role awards and
serial-voting flags. Rows of `reputation_events` are only ever inserted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.db.rows import from_ts, to_ts
from bot.domain.reputation import DEFAULT_RULES, ReputationRules, RewardRole


@dataclass(frozen=True, slots=True)
class LedgerRow:
    id: int
    guild_id: int
    user_id: int
    delta: int
    reason: str
    idea_id: int | None
    source: str
    voter_id: int | None
    at: datetime


_LEDGER_COLUMNS = "id, guild_id, user_id, delta, reason, idea_id, source, voter_id, at"


def _ledger_row(row: aiosqlite.Row) -> LedgerRow:
    return LedgerRow(
        id=row["id"],
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        delta=row["delta"],
        reason=row["reason"],
        idea_id=row["idea_id"],
        source=row["source"],
        voter_id=row["voter_id"],
        at=from_ts(row["at"]),
    )


# --- the ledger ----------------------------------------------------------------------------


async def append(
    conn: aiosqlite.Connection,
    guild_id: int,
    user_id: int,
    delta: int,
    reason: str,
    source: str,
    at: datetime,
    *,
    idea_id: int | None = None,
    voter_id: int | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO reputation_events (guild_id, user_id, delta, reason, idea_id, source, voter_id, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (guild_id, user_id, delta, reason, idea_id, source, voter_id, to_ts(at)),
    )


async def _scalar(conn: aiosqlite.Connection, sql: str, params: tuple[object, ...]) -> int:
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return int(row[0] or 0) if row else 0


async def total(conn: aiosqlite.Connection, guild_id: int, user_id: int) -> int:
    return await _scalar(
        conn, "SELECT SUM(delta) FROM reputation_events WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )


async def vote_credit(conn: aiosqlite.Connection, idea_id: int, voter_id: int, user_id: int) -> int:
    """What one voter's vote on an idea currently credits `user_id`."""
    return await _scalar(
        conn,
        "SELECT SUM(delta) FROM reputation_events WHERE idea_id = ? AND voter_id = ? AND user_id = ?",
        (idea_id, voter_id, user_id),
    )


async def vote_points_since(conn: aiosqlite.Connection, guild_id: int, user_id: int, since: datetime) -> int:
    """Net points from votes (credits minus their reversals) written since `since`."""
    return await _scalar(
        conn,
        "SELECT SUM(delta) FROM reputation_events WHERE guild_id = ? AND user_id = ? AND voter_id IS NOT NULL"
        " AND at > ?",
        (guild_id, user_id, to_ts(since)),
    )


async def counted_since(conn: aiosqlite.Connection, guild_id: int, user_id: int, source: str, since: datetime) -> int:
    """How many positive rows of `source` the member earned since `since`."""
    return await _scalar(
        conn,
        "SELECT COUNT(*) FROM reputation_events WHERE guild_id = ? AND user_id = ? AND source = ? AND delta > 0"
        " AND at > ?",
        (guild_id, user_id, source, to_ts(since)),
    )


async def idea_source_credit(conn: aiosqlite.Connection, idea_id: int, user_id: int, source: str) -> int:
    """Positive points of one kind ever credited on an idea (reversed or not): bonuses are once."""
    return await _scalar(
        conn,
        "SELECT COALESCE(SUM(delta), 0) FROM reputation_events WHERE idea_id = ? AND user_id = ? AND source = ?"
        " AND delta > 0",
        (idea_id, user_id, source),
    )


async def outstanding_on_idea(conn: aiosqlite.Connection, idea_id: int) -> list[tuple[int, int | None, int]]:
    """(user, voter, points still credited) for every non-zero group of rows on an idea."""
    async with conn.execute(
        "SELECT user_id, voter_id, SUM(delta) FROM reputation_events WHERE idea_id = ?"
        " GROUP BY user_id, voter_id HAVING SUM(delta) != 0 ORDER BY user_id, voter_id",
        (idea_id,),
    ) as cursor:
        return [(row[0], row[1], int(row[2])) for row in await cursor.fetchall()]


async def outstanding_votes_between(
    conn: aiosqlite.Connection, guild_id: int, voter_id: int, author_id: int, since: datetime
) -> list[tuple[int, int]]:
    """(idea, points still credited) of a voter's credits to an author written since `since`."""
    async with conn.execute(
        "SELECT idea_id, SUM(delta) FROM reputation_events WHERE guild_id = ? AND voter_id = ? AND user_id = ?"
        " AND idea_id IN (SELECT idea_id FROM reputation_events WHERE guild_id = ? AND voter_id = ?"
        " AND user_id = ? AND delta > 0 AND at > ?)"
        " GROUP BY idea_id HAVING SUM(delta) != 0 ORDER BY idea_id",
        (guild_id, voter_id, author_id, guild_id, voter_id, author_id, to_ts(since)),
    ) as cursor:
        return [(row[0], int(row[1])) for row in await cursor.fetchall()]


async def recent_events(conn: aiosqlite.Connection, guild_id: int, user_id: int, limit: int = 10) -> list[LedgerRow]:
    async with conn.execute(
        f"SELECT {_LEDGER_COLUMNS} FROM reputation_events WHERE guild_id = ? AND user_id = ?"
        " ORDER BY at DESC, id DESC LIMIT ?",
        (guild_id, user_id, limit),
    ) as cursor:
        return [_ledger_row(row) for row in await cursor.fetchall()]


async def ledger(conn: aiosqlite.Connection, guild_id: int) -> list[LedgerRow]:
    async with conn.execute(
        f"SELECT {_LEDGER_COLUMNS} FROM reputation_events WHERE guild_id = ? ORDER BY id", (guild_id,)
    ) as cursor:
        return [_ledger_row(row) for row in await cursor.fetchall()]


async def totals(
    conn: aiosqlite.Connection, guild_id: int, *, since: datetime | None = None, limit: int | None = None
) -> list[tuple[int, int]]:
    """(user, points) with points > 0, best first; `since` limits to points earned after it."""
    sql = "SELECT user_id, SUM(delta) AS points FROM reputation_events WHERE guild_id = ?"
    params: list[object] = [guild_id]
    if since is not None:
        sql += " AND at > ?"
        params.append(to_ts(since))
    sql += " GROUP BY user_id HAVING points > 0 ORDER BY points DESC, user_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    async with conn.execute(sql, params) as cursor:
        return [(row[0], int(row[1])) for row in await cursor.fetchall()]


async def members_with_points(conn: aiosqlite.Connection, guild_id: int) -> list[int]:
    async with conn.execute(
        "SELECT DISTINCT user_id FROM reputation_events WHERE guild_id = ? ORDER BY user_id", (guild_id,)
    ) as cursor:
        return [row[0] for row in await cursor.fetchall()]


# --- votes and ideas, as reputation needs them -----------------------------------------------


async def upvote_times_between(
    conn: aiosqlite.Connection, guild_id: int, voter_id: int, author_id: int, since: datetime
) -> list[datetime]:
    """When the voter's current upvotes on the author's ideas were last set, since `since`."""
    async with conn.execute(
        "SELECT v.updated_at FROM votes v JOIN ideas i ON i.id = v.idea_id WHERE i.guild_id = ?"
        " AND i.author_id = ? AND v.voter_id = ? AND v.value = 1 AND v.updated_at > ?",
        (guild_id, author_id, voter_id, to_ts(since)),
    ) as cursor:
        return [from_ts(row[0]) for row in await cursor.fetchall()]


async def ideas_posted_since(conn: aiosqlite.Connection, guild_id: int, author_id: int, since: datetime) -> int:
    return await _scalar(
        conn,
        "SELECT COUNT(*) FROM ideas WHERE guild_id = ? AND author_id = ? AND created_at > ?"
        " AND message_id IS NOT NULL AND status != 'withdrawn'",
        (guild_id, author_id, to_ts(since)),
    )


# --- rules ---------------------------------------------------------------------------------


async def get_rules(conn: aiosqlite.Connection, guild_id: int) -> ReputationRules:
    names = ReputationRules.names()
    async with conn.execute(
        f"SELECT {', '.join(names)} FROM reputation_rules WHERE guild_id = ?", (guild_id,)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return DEFAULT_RULES
    return DEFAULT_RULES.replace(**{name: row[name] for name in names if row[name] is not None})


async def save_rules(conn: aiosqlite.Connection, guild_id: int, rules: ReputationRules, now: datetime) -> None:
    names = ReputationRules.names()
    columns = ", ".join(names)
    marks = ", ".join("?" for _ in names)
    updates = ", ".join(f"{name} = excluded.{name}" for name in names)
    await conn.execute(
        f"INSERT INTO reputation_rules (guild_id, {columns}, updated_at) VALUES (?, {marks}, ?)"
        f" ON CONFLICT(guild_id) DO UPDATE SET {updates}, updated_at = excluded.updated_at",
        (guild_id, *(getattr(rules, name) for name in names), to_ts(now)),
    )


# --- reward roles --------------------------------------------------------------------------


async def reward_roles(conn: aiosqlite.Connection, guild_id: int) -> list[RewardRole]:
    async with conn.execute(
        "SELECT role_id, points FROM reward_roles WHERE guild_id = ? ORDER BY points, role_id", (guild_id,)
    ) as cursor:
        return [RewardRole(row[0], row[1]) for row in await cursor.fetchall()]


async def put_reward_role(
    conn: aiosqlite.Connection, guild_id: int, role_id: int, points: int, added_by: int | None, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO reward_roles (guild_id, role_id, points, added_by, at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(guild_id, role_id) DO UPDATE SET points = excluded.points, added_by = excluded.added_by,"
        " at = excluded.at",
        (guild_id, role_id, points, added_by, to_ts(now)),
    )


async def delete_reward_role(conn: aiosqlite.Connection, guild_id: int, role_id: int) -> bool:
    cursor = await conn.execute("DELETE FROM reward_roles WHERE guild_id = ? AND role_id = ?", (guild_id, role_id))
    return cursor.rowcount > 0


async def record_role_award(
    conn: aiosqlite.Connection, guild_id: int, user_id: int, role_id: int, action: str, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO role_awards (guild_id, user_id, role_id, action, at) VALUES (?, ?, ?, ?, ?)",
        (guild_id, user_id, role_id, action, to_ts(now)),
    )


async def held_roles(conn: aiosqlite.Connection, guild_id: int, user_id: int) -> set[int]:
    """Roles whose latest recorded action for this member is 'added'."""
    async with conn.execute(
        "SELECT role_id, action FROM role_awards WHERE id IN (SELECT MAX(id) FROM role_awards"
        " WHERE guild_id = ? AND user_id = ? GROUP BY role_id)",
        (guild_id, user_id),
    ) as cursor:
        return {row[0] for row in await cursor.fetchall() if row[1] == "added"}


async def role_awards(conn: aiosqlite.Connection, guild_id: int) -> list[tuple[int, int, str, datetime]]:
    """(user, role, action, at) in order."""
    async with conn.execute(
        "SELECT user_id, role_id, action, at FROM role_awards WHERE guild_id = ? ORDER BY id", (guild_id,)
    ) as cursor:
        return [(row[0], row[1], row[2], from_ts(row[3])) for row in await cursor.fetchall()]


# --- serial voting -------------------------------------------------------------------------


async def flag_serial_voting(
    conn: aiosqlite.Connection, guild_id: int, voter_id: int, author_id: int, votes: int, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO serial_voting_flags (guild_id, voter_id, author_id, votes, at) VALUES (?, ?, ?, ?, ?)",
        (guild_id, voter_id, author_id, votes, to_ts(now)),
    )


async def flagged_since(
    conn: aiosqlite.Connection, guild_id: int, voter_id: int, author_id: int, since: datetime
) -> bool:
    count = await _scalar(
        conn,
        "SELECT COUNT(*) FROM serial_voting_flags WHERE guild_id = ? AND voter_id = ? AND author_id = ? AND at > ?",
        (guild_id, voter_id, author_id, to_ts(since)),
    )
    return count > 0
