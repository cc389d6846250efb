"""Ideas: create, read, search, list for ranking, status history, co-authors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from bot.db.rows import IDEA_COLUMNS, idea_from_row, to_ts
from bot.domain.ideas import Idea, IdeaDraft, Status


async def insert_idea(
    conn: aiosqlite.Connection,
    guild_id: int,
    author_id: int,
    draft: IdeaDraft,
    now: datetime,
    *,
    challenge_id: int | None = None,
    terms_version: str | None = None,
    anonymous: bool = False,
) -> Idea:
    """Insert with the next number in the guild (call inside a transaction)."""
    async with conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM ideas WHERE guild_id = ?", (guild_id,)) as cur:
        row = await cur.fetchone()
    number = int(row[0]) if row else 1
    ts = to_ts(now)
    cursor = await conn.execute(
        "INSERT INTO ideas (guild_id, number, author_id, title, body, category, status, created_at, updated_at,"
        " last_activity_at, challenge_id, terms_version, anonymous)"
        " VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            number,
            author_id,
            draft.title,
            draft.details,
            draft.category,
            ts,
            ts,
            ts,
            challenge_id,
            terms_version,
            int(anonymous),
        ),
    )
    idea_id = cursor.lastrowid
    assert idea_id is not None
    idea = await get_idea(conn, idea_id)
    assert idea is not None
    return idea


async def attach_card(
    conn: aiosqlite.Connection, idea_id: int, *, channel_id: int, message_id: int, thread_id: int | None
) -> None:
    await conn.execute(
        "UPDATE ideas SET channel_id = ?, message_id = ?, thread_id = ? WHERE id = ?",
        (channel_id, message_id, thread_id, idea_id),
    )


async def delete_unposted_idea(conn: aiosqlite.Connection, idea_id: int) -> None:
    """Undo a submission whose card could not be posted (nothing else refers to it yet)."""
    await conn.execute("DELETE FROM ideas WHERE id = ? AND message_id IS NULL", (idea_id,))


async def _attach_coauthors(conn: aiosqlite.Connection, ideas: list[Idea]) -> list[Idea]:
    if not ideas:
        return ideas
    by_id = {idea.id: idea for idea in ideas}
    marks = ",".join("?" * len(by_id))
    async with conn.execute(
        f"SELECT idea_id, user_id FROM idea_coauthors WHERE idea_id IN ({marks}) ORDER BY user_id", tuple(by_id)
    ) as cursor:
        for row in await cursor.fetchall():
            by_id[row[0]].coauthor_ids.append(row[1])
    return ideas


async def _select(conn: aiosqlite.Connection, where: str, params: Sequence[object]) -> list[Idea]:
    async with conn.execute(f"SELECT {IDEA_COLUMNS} FROM ideas WHERE {where}", tuple(params)) as cursor:
        rows = await cursor.fetchall()
    return await _attach_coauthors(conn, [idea_from_row(row) for row in rows])


async def get_idea(conn: aiosqlite.Connection, idea_id: int) -> Idea | None:
    found = await _select(conn, "id = ?", (idea_id,))
    return found[0] if found else None


async def get_idea_by_number(conn: aiosqlite.Connection, guild_id: int, number: int) -> Idea | None:
    found = await _select(conn, "guild_id = ? AND number = ? AND message_id IS NOT NULL", (guild_id, number))
    return found[0] if found else None


async def list_posted_ideas(
    conn: aiosqlite.Connection,
    guild_id: int,
    *,
    since: datetime | None = None,
    author_id: int | None = None,
    exclude_statuses: Sequence[Status] = (),
    order: str = "created_at DESC",
    limit: int | None = None,
) -> list[Idea]:
    where = ["guild_id = ?", "message_id IS NOT NULL"]
    params: list[object] = [guild_id]
    if since is not None:
        where.append("created_at >= ?")
        params.append(to_ts(since))
    if author_id is not None:
        where.append("(author_id = ? OR id IN (SELECT idea_id FROM idea_coauthors WHERE user_id = ?))")
        params.extend([author_id, author_id])
    if exclude_statuses:
        where.append(f"status NOT IN ({','.join('?' * len(exclude_statuses))})")
        params.extend(s.value for s in exclude_statuses)
    sql = " AND ".join(where) + f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return await _select(conn, sql, params)


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_ideas(conn: aiosqlite.Connection, guild_id: int, query: str, limit: int = 10) -> list[Idea]:
    """Every word must appear in the title or body (case-insensitive for ASCII); newest first."""
    words = [w for w in query.split() if w][:8]
    where = ["guild_id = ?", "message_id IS NOT NULL"]
    params: list[object] = [guild_id]
    for word in words:
        where.append("(title LIKE ? ESCAPE '\\' OR body LIKE ? ESCAPE '\\')")
        params.extend([_like_pattern(word), _like_pattern(word)])
    return await _select(conn, " AND ".join(where) + f" ORDER BY created_at DESC LIMIT {int(limit)}", params)


async def update_text(conn: aiosqlite.Connection, idea_id: int, draft: IdeaDraft, now: datetime) -> None:
    await conn.execute(
        "UPDATE ideas SET title = ?, body = ?, category = COALESCE(?, category), updated_at = ? WHERE id = ?",
        (draft.title, draft.details, draft.category, to_ts(now), idea_id),
    )


async def set_status(
    conn: aiosqlite.Connection,
    idea: Idea,
    status: Status,
    reason: str | None,
    moderator_id: int | None,
    now: datetime,
    merged_into: int | None = None,
) -> None:
    ts = to_ts(now)
    await conn.execute(
        "UPDATE ideas SET status = ?, status_reason = ?, merged_into = COALESCE(?, merged_into), updated_at = ?,"
        " last_activity_at = ? WHERE id = ?",
        (status.value, reason, merged_into, ts, ts, idea.id),
    )
    await conn.execute(
        "INSERT INTO status_history (idea_id, old_status, new_status, reason, moderator_id, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (idea.id, idea.status.value, status.value, reason, moderator_id, ts),
    )


async def times_set_to(conn: aiosqlite.Connection, idea_id: int, status: Status) -> int:
    """How many status changes moved the idea to `status`."""
    async with conn.execute(
        "SELECT COUNT(*) FROM status_history WHERE idea_id = ? AND new_status = ?", (idea_id, status.value)
    ) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def status_history(conn: aiosqlite.Connection, idea_id: int) -> list[aiosqlite.Row]:
    async with conn.execute(
        "SELECT old_status, new_status, reason, moderator_id, at FROM status_history WHERE idea_id = ? ORDER BY id",
        (idea_id,),
    ) as cursor:
        return list(await cursor.fetchall())


async def add_coauthor(conn: aiosqlite.Connection, idea_id: int, user_id: int) -> None:
    await conn.execute("INSERT OR IGNORE INTO idea_coauthors (idea_id, user_id) VALUES (?, ?)", (idea_id, user_id))


async def count_submissions_since(conn: aiosqlite.Connection, guild_id: int, author_id: int, since: datetime) -> int:
    async with conn.execute(
        "SELECT COUNT(*) FROM ideas WHERE guild_id = ? AND author_id = ? AND created_at >= ?",
        (guild_id, author_id, to_ts(since)),
    ) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def last_submission_at(conn: aiosqlite.Connection, guild_id: int, author_id: int) -> float | None:
    async with conn.execute(
        "SELECT MAX(created_at) FROM ideas WHERE guild_id = ? AND author_id = ?", (guild_id, author_id)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None or row[0] is None else float(row[0])


async def recently_active_cards(conn: aiosqlite.Connection, since: datetime) -> list[Idea]:
    return await _select(conn, "message_id IS NOT NULL AND last_activity_at >= ?", (to_ts(since),))
