"""Votes, one row per (idea, voter); the idea's tallies move in the same transaction."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from bot.db.rows import maybe_dt, maybe_ts, to_ts


async def get_vote(conn: aiosqlite.Connection, idea_id: int, voter_id: int) -> int | None:
    async with conn.execute(
        "SELECT value FROM votes WHERE idea_id = ? AND voter_id = ?", (idea_id, voter_id)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def votes_on(conn: aiosqlite.Connection, idea_id: int) -> dict[int, tuple[int, datetime | None]]:
    """voter id -> (value, when they joined the guild)."""
    async with conn.execute(
        "SELECT voter_id, value, voter_joined_at FROM votes WHERE idea_id = ?", (idea_id,)
    ) as cursor:
        return {row[0]: (int(row[1]), maybe_dt(row[2])) for row in await cursor.fetchall()}


def _tally_delta(old: int | None, new: int | None) -> tuple[int, int]:
    ups = (new == 1) - (old == 1)
    downs = (new == -1) - (old == -1)
    return ups, downs


async def put_vote(
    conn: aiosqlite.Connection,
    idea_id: int,
    voter_id: int,
    old: int | None,
    new: int | None,
    voter_joined_at: datetime | None,
    now: datetime,
) -> None:
    """Move one voter from `old` to `new` (None: no vote) and the idea's tallies with it."""
    if old == new:
        return
    ts = to_ts(now)
    if new is None:
        await conn.execute("DELETE FROM votes WHERE idea_id = ? AND voter_id = ?", (idea_id, voter_id))
    else:
        await conn.execute(
            "INSERT INTO votes (idea_id, voter_id, value, voter_joined_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(idea_id, voter_id) DO UPDATE SET value = excluded.value,"
            " voter_joined_at = COALESCE(excluded.voter_joined_at, votes.voter_joined_at),"
            " updated_at = excluded.updated_at",
            (idea_id, voter_id, new, maybe_ts(voter_joined_at), ts, ts),
        )
    ups, downs = _tally_delta(old, new)
    await conn.execute(
        "UPDATE ideas SET upvotes = upvotes + ?, downvotes = downvotes + ?, last_activity_at = ? WHERE id = ?",
        (ups, downs, ts, idea_id),
    )


async def supporters(conn: aiosqlite.Connection, idea_id: int, limit: int) -> list[int]:
    async with conn.execute(
        "SELECT voter_id FROM votes WHERE idea_id = ? AND value = 1 ORDER BY created_at LIMIT ?", (idea_id, limit)
    ) as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def recompute_tallies(conn: aiosqlite.Connection, idea_id: int) -> None:
    await conn.execute(
        "UPDATE ideas SET upvotes = (SELECT COUNT(*) FROM votes WHERE idea_id = ideas.id AND value = 1),"
        " downvotes = (SELECT COUNT(*) FROM votes WHERE idea_id = ideas.id AND value = -1) WHERE id = ?",
        (idea_id,),
    )


async def voters_changed_after(conn: aiosqlite.Connection, idea_id: int, moment: datetime) -> set[int]:
    async with conn.execute(
        "SELECT voter_id FROM votes WHERE idea_id = ? AND updated_at > ?", (idea_id, to_ts(moment))
    ) as cursor:
        return {row[0] for row in await cursor.fetchall()}
