"""Ideas: create, read, list for ranking, status history, co-authors (search: bot/search/storage.py)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.ideas.rules import Idea, IdeaDraft, Status
from bot.storage import Conn, Row, least, same_as
from bot.storage.rows import IDEA_COLUMNS, from_ts, idea_from_row, to_ts


async def insert_idea(
    conn: Conn,
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
    async with conn.execute(
        "INSERT INTO ideas (guild_id, number, author_id, title, body, category, status, created_at, updated_at,"
        " last_activity_at, challenge_id, terms_version, anonymous)"
        " VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?) RETURNING id",
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
    ) as cursor:
        inserted = await cursor.fetchone()
    assert inserted is not None
    idea = await get_idea(conn, int(inserted[0]))
    assert idea is not None
    return idea


async def attach_card(conn: Conn, idea_id: int, *, channel_id: int, message_id: int, thread_id: int | None) -> None:
    await conn.execute(
        "UPDATE ideas SET channel_id = ?, message_id = ?, thread_id = ? WHERE id = ?",
        (channel_id, message_id, thread_id, idea_id),
    )


async def delete_unposted_idea(conn: Conn, idea_id: int) -> None:
    """Undo a submission whose card could not be posted (nothing else refers to it yet)."""
    await conn.execute("DELETE FROM ideas WHERE id = ? AND message_id IS NULL", (idea_id,))


async def attach_coauthors(conn: Conn, ideas: list[Idea]) -> list[Idea]:
    if not ideas:
        return ideas
    by_id = {idea.id: idea for idea in ideas}
    marks = ",".join("?" * len(by_id))
    async with conn.execute(
        f"SELECT idea_id, user_id, anonymous FROM idea_coauthors WHERE idea_id IN ({marks}) ORDER BY user_id",
        tuple(by_id),
    ) as cursor:
        for row in await cursor.fetchall():
            by_id[row[0]].coauthor_ids.append(row[1])
            if row[2]:
                by_id[row[0]].anonymous_coauthor_ids.append(row[1])
    return ideas


async def _select(conn: Conn, where: str, params: Sequence[object]) -> list[Idea]:
    async with conn.execute(f"SELECT {IDEA_COLUMNS} FROM ideas WHERE {where}", tuple(params)) as cursor:
        rows = await cursor.fetchall()
    return await attach_coauthors(conn, [idea_from_row(row) for row in rows])


async def get_idea(conn: Conn, idea_id: int) -> Idea | None:
    found = await _select(conn, "id = ?", (idea_id,))
    return found[0] if found else None


async def get_idea_by_number(conn: Conn, guild_id: int, number: int) -> Idea | None:
    found = await _select(conn, "guild_id = ? AND number = ? AND message_id IS NOT NULL", (guild_id, number))
    return found[0] if found else None


async def list_posted_ideas(
    conn: Conn,
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


async def update_text(conn: Conn, idea: Idea, draft: IdeaDraft, now: datetime) -> bool:
    """Compare-and-set on the status the caller checked: False (nothing written) when the
    status changed since."""
    cursor = await conn.execute(
        "UPDATE ideas SET title = ?, body = ?, category = COALESCE(?, category), updated_at = ?"
        " WHERE id = ? AND status = ?",
        (draft.title, draft.details, draft.category, to_ts(now), idea.id, idea.status.value),
    )
    return cursor.rowcount == 1


async def set_status(
    conn: Conn,
    idea: Idea,
    status: Status,
    reason: str | None,
    moderator_id: int | None,
    now: datetime,
    merged_into: int | None = None,
) -> bool:
    """Compare-and-set: writes only if the idea still has the status and reason of `idea` (as
    the caller read and checked them), so two simultaneous changes give one change and one
    history row. Returns False when nothing was written."""
    ts = to_ts(now)
    cursor = await conn.execute(
        "UPDATE ideas SET status = ?, status_reason = ?, merged_into = COALESCE(?, merged_into), updated_at = ?,"
        f" last_activity_at = ? WHERE id = ? AND status = ? AND status_reason {same_as(conn)} ?",
        (status.value, reason, merged_into, ts, ts, idea.id, idea.status.value, idea.status_reason),
    )
    if cursor.rowcount != 1:
        return False
    await conn.execute(
        "INSERT INTO status_history (idea_id, old_status, new_status, reason, moderator_id, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (idea.id, idea.status.value, status.value, reason, moderator_id, ts),
    )
    return True


async def confirm_status(conn: Conn, idea: Idea) -> bool:
    """True if the idea still has the status the caller read. The no-op UPDATE also takes the
    row's write lock on databases with row locks, so a concurrent change waits or is seen."""
    cursor = await conn.execute(
        "UPDATE ideas SET status = status WHERE id = ? AND status = ?", (idea.id, idea.status.value)
    )
    return cursor.rowcount == 1


async def times_set_to(conn: Conn, idea_id: int, status: Status) -> int:
    """How many status changes moved the idea to `status`."""
    async with conn.execute(
        "SELECT COUNT(*) FROM status_history WHERE idea_id = ? AND new_status = ?", (idea_id, status.value)
    ) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def status_history(conn: Conn, idea_id: int) -> list[Row]:
    async with conn.execute(
        "SELECT old_status, new_status, reason, moderator_id, at FROM status_history WHERE idea_id = ? ORDER BY id",
        (idea_id,),
    ) as cursor:
        return list(await cursor.fetchall())


async def add_coauthor(conn: Conn, idea_id: int, user_id: int, *, anonymous: bool = False) -> None:
    """`anonymous`: credited through an anonymous idea. A link that is public once stays public
    (the person is already shown on the idea), so a second, anonymous link never hides it."""
    await conn.execute(
        "INSERT INTO idea_coauthors (idea_id, user_id, anonymous) VALUES (?, ?, ?)"
        f" ON CONFLICT (idea_id, user_id) DO UPDATE SET anonymous = {least(conn)}(idea_coauthors.anonymous,"
        " excluded.anonymous)",
        (idea_id, user_id, int(anonymous)),
    )


async def count_submissions_since(conn: Conn, guild_id: int, author_id: int, since: datetime) -> int:
    async with conn.execute(
        "SELECT COUNT(*) FROM ideas WHERE guild_id = ? AND author_id = ? AND created_at >= ?",
        (guild_id, author_id, to_ts(since)),
    ) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def last_submission_at(conn: Conn, guild_id: int, author_id: int) -> float | None:
    async with conn.execute(
        "SELECT MAX(created_at) FROM ideas WHERE guild_id = ? AND author_id = ?", (guild_id, author_id)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None or row[0] is None else float(row[0])


async def recently_active_cards(conn: Conn, since: datetime) -> list[Idea]:
    return await _select(conn, "message_id IS NOT NULL AND last_activity_at >= ?", (to_ts(since),))


# --- drafts held by a submission gate until their author answers ---------------------------------------


@dataclass(frozen=True, slots=True)
class HeldDraft:
    id: str
    gate: str  # 'duplicates' or 'terms'
    guild_id: int
    author_id: int
    title: str
    details: str
    category: str | None
    options: dict[str, Any]
    terms_version: str | None
    created_at: datetime


def _options_json(options: dict[str, Any]) -> str:
    """Only JSON-friendly options survive a restart; anything else is dropped."""
    kept = {}
    for key, value in options.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[key] = value
    return json.dumps(kept)


async def hold_draft(
    conn: Conn,
    gate: str,
    guild_id: int,
    author_id: int,
    draft: IdeaDraft,
    options: dict[str, Any],
    now: datetime,
    *,
    terms_version: str | None = None,
    replace_authors_earlier: bool = False,
) -> str:
    """Keep a draft until its author answers (call inside a transaction); returns the short
    random id its buttons carry. `replace_authors_earlier` drops the author's earlier draft at
    this gate, so only their newest submission waits."""
    if replace_authors_earlier:
        await conn.execute(
            "DELETE FROM held_drafts WHERE guild_id = ? AND author_id = ? AND gate = ?", (guild_id, author_id, gate)
        )
    draft_id = secrets.token_urlsafe(9)
    await conn.execute(
        "INSERT INTO held_drafts (id, gate, guild_id, author_id, title, details, category, options, terms_version,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            draft_id,
            gate,
            guild_id,
            author_id,
            draft.title,
            draft.details,
            draft.category,
            _options_json(options),
            terms_version,
            to_ts(now),
        ),
    )
    return draft_id


async def held_draft(conn: Conn, draft_id: str, gate: str) -> HeldDraft | None:
    async with conn.execute(
        "SELECT id, gate, guild_id, author_id, title, details, category, options, terms_version, created_at"
        " FROM held_drafts WHERE id = ? AND gate = ?",
        (draft_id, gate),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    return HeldDraft(
        row["id"],
        row["gate"],
        row["guild_id"],
        row["author_id"],
        row["title"],
        row["details"],
        row["category"],
        json.loads(row["options"] or "{}"),
        row["terms_version"],
        from_ts(row["created_at"]),
    )


async def release_held_draft(conn: Conn, draft_id: str) -> bool:
    """Delete the draft (call inside a transaction). The DELETE decides: only the caller whose
    DELETE removed the row may use the draft, so a draft is used at most once."""
    cursor = await conn.execute("DELETE FROM held_drafts WHERE id = ?", (draft_id,))
    return cursor.rowcount == 1


async def purge_held_drafts(conn: Conn, gate: str, before: datetime) -> int:
    cursor = await conn.execute("DELETE FROM held_drafts WHERE gate = ? AND created_at < ?", (gate, to_ts(before)))
    return cursor.rowcount
