"""Digest queries: schedules, the record of posted digests, and the week's aggregates.

Every aggregate is a GROUP BY or a bounded list in SQL: building a digest never loads all of a
guild's votes into Python (bench/digest_build.py: 100k ideas, 1M votes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.digest.rules import (
    ChallengeLine,
    Contributor,
    Counts,
    DigestSchedule,
    IdeaLine,
    IsoWeek,
    Promotion,
    StatusChangeLine,
    VoteActivity,
    WinnerLine,
)
from bot.reputation.storage import anonymous_credit_sql
from bot.storage import Conn, Row
from bot.storage.rows import from_ts, to_ts

POSTED = "message_id IS NOT NULL"
# The columns of an IdeaLine (ideas aliased i).
LINE_COLUMNS = "i.id, i.number, i.title, i.status, i.created_at, i.upvotes, i.downvotes, i.terms_version"


# --- schedule and record ---------------------------------------------------------------------------


# digest_settings.support_threshold (migration 0003) is no longer read or written: the digest
# reports the support stages recorded in threshold_crossings. Dropping the column would
# need a migration, so it stays, unused.


async def get_schedule(conn: Conn, guild_id: int) -> DigestSchedule:
    async with conn.execute(
        "SELECT weekday, hour, timezone, waiting_days FROM digest_settings WHERE guild_id = ?",
        (guild_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return DigestSchedule() if row is None else DigestSchedule(*row)


async def save_schedule(conn: Conn, guild_id: int, weekday: int, hour: int, timezone: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO digest_settings (guild_id, weekday, hour, timezone, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(guild_id) DO UPDATE SET weekday = excluded.weekday, hour = excluded.hour,"
        " timezone = excluded.timezone, updated_at = excluded.updated_at",
        (guild_id, weekday, hour, timezone, to_ts(now)),
    )


async def save_waiting_days(conn: Conn, guild_id: int, waiting_days: int, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO digest_settings (guild_id, waiting_days, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(guild_id) DO UPDATE SET waiting_days = excluded.waiting_days, updated_at = excluded.updated_at",
        (guild_id, waiting_days, to_ts(now)),
    )


async def digest_guilds(conn: Conn) -> list[tuple[int, int, DigestSchedule]]:
    """(guild id, digest channel id, schedule) of every guild with a digest channel."""
    async with conn.execute(
        "SELECT g.guild_id, g.digest_channel_id, d.weekday, d.hour, d.timezone, d.waiting_days"
        " FROM guild_settings g LEFT JOIN digest_settings d ON d.guild_id = g.guild_id"
        " WHERE g.digest_channel_id IS NOT NULL ORDER BY g.guild_id"
    ) as cursor:
        rows = await cursor.fetchall()
    found = []
    for row in rows:
        schedule = DigestSchedule() if row[2] is None else DigestSchedule(row[2], row[3], row[4], row[5])
        found.append((int(row[0]), int(row[1]), schedule))
    return found


async def recorded_weeks(conn: Conn, guild_id: int) -> set[IsoWeek]:
    async with conn.execute("SELECT iso_week FROM digests WHERE guild_id = ?", (guild_id,)) as cursor:
        return {IsoWeek.parse(row[0]) for row in await cursor.fetchall()}


@dataclass(frozen=True, slots=True)
class DigestRecord:
    guild_id: int
    iso_week: str
    status: str
    trigger: str
    channel_id: int | None
    message_id: int | None
    themes_from: str | None
    claimed_at: datetime
    posted_at: datetime | None


async def get_record(conn: Conn, guild_id: int, week: IsoWeek) -> DigestRecord | None:
    async with conn.execute(
        "SELECT guild_id, iso_week, status, trigger, channel_id, message_id, themes_from, claimed_at, posted_at"
        " FROM digests WHERE guild_id = ? AND iso_week = ?",
        (guild_id, str(week)),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    values[7] = from_ts(values[7])
    values[8] = None if values[8] is None else from_ts(values[8])
    return DigestRecord(*values)


async def claim(
    conn: Conn,
    guild_id: int,
    week: IsoWeek,
    trigger: str,
    now: datetime,
    *,
    stale_before: datetime | None = None,
) -> bool:
    """Reserve (guild, week) before posting; False when it is already taken. A claim is a
    lease: one still 'posting' and claimed at or before `stale_before` belonged to a run that
    died, and is taken over."""
    cursor = await conn.execute(
        "INSERT INTO digests (guild_id, iso_week, status, trigger, claimed_at)"
        " VALUES (?, ?, 'posting', ?, ?) ON CONFLICT DO NOTHING",
        (guild_id, str(week), trigger, to_ts(now)),
    )
    if cursor.rowcount == 1:
        return True
    if stale_before is None:
        return False
    cursor = await conn.execute(
        "UPDATE digests SET trigger = ?, claimed_at = ? WHERE guild_id = ? AND iso_week = ? AND status = 'posting'"
        " AND claimed_at <= ?",
        (trigger, to_ts(now), guild_id, str(week), to_ts(stale_before)),
    )
    return cursor.rowcount == 1


async def stale_claims(conn: Conn, guild_id: int, before: datetime) -> list[IsoWeek]:
    """Weeks whose post was claimed at or before `before` and never completed."""
    async with conn.execute(
        "SELECT iso_week FROM digests WHERE guild_id = ? AND status = 'posting' AND claimed_at <= ? ORDER BY iso_week",
        (guild_id, to_ts(before)),
    ) as cursor:
        return [IsoWeek.parse(row[0]) for row in await cursor.fetchall()]


async def complete(
    conn: Conn,
    guild_id: int,
    week: IsoWeek,
    *,
    channel_id: int,
    message_id: int,
    themes_from: str,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE digests SET status = 'posted', channel_id = ?, message_id = ?, themes_from = ?, posted_at = ?"
        " WHERE guild_id = ? AND iso_week = ?",
        (channel_id, message_id, themes_from, to_ts(now), guild_id, str(week)),
    )


async def release(conn: Conn, guild_id: int, week: IsoWeek) -> None:
    """Give up a claim whose post failed, so the next run tries again."""
    await conn.execute(
        "DELETE FROM digests WHERE guild_id = ? AND iso_week = ? AND status = 'posting'", (guild_id, str(week))
    )


# --- the week's aggregates ---------------------------------------------------------------------------


async def _one(conn: Conn, sql: str, params: Sequence[Any]) -> Any:
    async with conn.execute(sql, tuple(params)) as cursor:
        row = await cursor.fetchone()
    return row


async def counts(conn: Conn, guild_id: int, start: datetime, end: datetime) -> Counts:
    s, e = to_ts(start), to_ts(end)
    ideas = await _one(
        conn,
        f"SELECT COUNT(*) FROM ideas WHERE guild_id = ? AND created_at >= ? AND created_at < ? AND {POSTED}",
        (guild_id, s, e),
    )
    votes = await _one(
        conn,
        "SELECT COUNT(*) FROM votes v JOIN ideas i ON i.id = v.idea_id"
        " WHERE v.created_at >= ? AND v.created_at < ? AND i.guild_id = ?",
        (s, e, guild_id),
    )
    members = await _one(
        conn,
        "SELECT COUNT(*) FROM (SELECT v.voter_id FROM votes v JOIN ideas i ON i.id = v.idea_id"
        " WHERE v.created_at >= ? AND v.created_at < ? AND i.guild_id = ?"
        " UNION SELECT author_id FROM ideas WHERE guild_id = ? AND created_at >= ? AND created_at < ?"
        f" AND {POSTED}) AS m",
        (s, e, guild_id, guild_id, s, e),
    )
    return Counts(int(ideas[0]), int(votes[0]), int(members[0]))


def _day_case(column: str, day_starts: Sequence[datetime]) -> tuple[str, list[float]]:
    """CASE mapping a timestamp to its local day index 0-6 (the boundaries come from the guild's zone)."""
    parts = " ".join(f"WHEN {column} < ? THEN {i}" for i in range(6))
    return f"CASE {parts} ELSE 6 END", [to_ts(moment) for moment in day_starts[1:7]]


async def per_day(conn: Conn, guild_id: int, day_starts: Sequence[datetime]) -> tuple[dict[int, int], dict[int, int]]:
    """Submissions and votes per local day of the week (day index -> count)."""
    s, e = to_ts(day_starts[0]), to_ts(day_starts[7])
    case, bounds = _day_case("created_at", day_starts)
    async with conn.execute(
        f"SELECT {case} AS day, COUNT(*) FROM ideas WHERE guild_id = ? AND created_at >= ? AND created_at < ?"
        f" AND {POSTED} GROUP BY day",
        (*bounds, guild_id, s, e),
    ) as cursor:
        ideas = {int(row[0]): int(row[1]) for row in await cursor.fetchall()}
    case, bounds = _day_case("v.created_at", day_starts)
    async with conn.execute(
        f"SELECT {case} AS day, COUNT(*) FROM votes v JOIN ideas i ON i.id = v.idea_id"
        " WHERE v.created_at >= ? AND v.created_at < ? AND i.guild_id = ? GROUP BY day",
        (*bounds, s, e, guild_id),
    ) as cursor:
        votes = {int(row[0]): int(row[1]) for row in await cursor.fetchall()}
    return ideas, votes


def _line(row: Row, ups: int | None = None, downs: int | None = None) -> IdeaLine:
    return IdeaLine(
        id=row["id"],
        number=row["number"],
        title=row["title"],
        status=row["status"],
        upvotes=int(row["upvotes"] if ups is None else ups),
        downvotes=int(row["downvotes"] if downs is None else downs),
        created_at=from_ts(row["created_at"]),
        terms_version=row["terms_version"],
    )


async def new_ideas(conn: Conn, guild_id: int, start: datetime, end: datetime) -> list[IdeaLine]:
    """Ideas submitted in [start, end) with their tallies as they stood at `end`."""
    async with conn.execute(
        "SELECT i.id, i.number, i.title, i.status, i.created_at, i.terms_version,"
        " COUNT(CASE WHEN v.value = 1 THEN 1 END) AS upvotes, COUNT(CASE WHEN v.value = -1 THEN 1 END) AS downvotes"
        " FROM ideas i LEFT JOIN votes v ON v.idea_id = i.id AND v.created_at < ?"
        " WHERE i.guild_id = ? AND i.created_at >= ? AND i.created_at < ? AND i.message_id IS NOT NULL"
        " AND i.status NOT IN ('withdrawn', 'duplicate') GROUP BY i.id",
        (to_ts(end), guild_id, to_ts(start), to_ts(end)),
    ) as cursor:
        return [_line(row) for row in await cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class ThemeIdea:
    id: int
    number: int
    title: str
    body: str
    upvotes: int


async def theme_texts(conn: Conn, guild_id: int, start: datetime, end: datetime, limit: int) -> list[ThemeIdea]:
    """The week's ideas for themes, most supported first."""
    async with conn.execute(
        "SELECT id, number, title, body, upvotes FROM ideas WHERE guild_id = ? AND created_at >= ? AND created_at < ?"
        f" AND {POSTED} AND status NOT IN ('withdrawn', 'duplicate') ORDER BY upvotes DESC, number LIMIT ?",
        (guild_id, to_ts(start), to_ts(end), limit),
    ) as cursor:
        return [ThemeIdea(row[0], row[1], row[2], row[3], row[4]) for row in await cursor.fetchall()]


async def vote_activity(conn: Conn, guild_id: int, start: datetime, end: datetime) -> list[VoteActivity]:
    """Per idea voted on in [start, end): votes in the week and before it."""
    s, e = to_ts(start), to_ts(end)
    async with conn.execute(
        "WITH recent AS (SELECT idea_id, COUNT(*) AS n FROM votes"
        "  WHERE created_at >= ? AND created_at < ? GROUP BY idea_id),"
        " earlier AS (SELECT v.idea_id, COUNT(*) AS n FROM votes v"
        "  JOIN recent r ON r.idea_id = v.idea_id WHERE v.created_at < ? GROUP BY v.idea_id)"
        f" SELECT {LINE_COLUMNS}, r.n AS recent, COALESCE(e.n, 0) AS earlier"
        " FROM recent r JOIN ideas i ON i.id = r.idea_id LEFT JOIN earlier e ON e.idea_id = r.idea_id"
        " WHERE i.guild_id = ? AND i.message_id IS NOT NULL AND i.status NOT IN ('withdrawn', 'duplicate')",
        (s, e, s, guild_id),
    ) as cursor:
        rows = await cursor.fetchall()
    return [VoteActivity(_line(row), recent=int(row["recent"]), earlier=int(row["earlier"])) for row in rows]


async def status_changes(
    conn: Conn, guild_id: int, start: datetime, end: datetime, limit: int
) -> list[StatusChangeLine]:
    async with conn.execute(
        f"SELECT {LINE_COLUMNS}, h.old_status, h.new_status, h.reason, h.at"
        " FROM status_history h JOIN ideas i ON i.id = h.idea_id"
        " WHERE h.at >= ? AND h.at < ? AND i.guild_id = ? AND h.new_status != 'withdrawn'"
        " ORDER BY h.at, h.id LIMIT ?",
        (to_ts(start), to_ts(end), guild_id, limit),
    ) as cursor:
        rows = await cursor.fetchall()
    return [StatusChangeLine(_line(r), r["old_status"], r["new_status"], r["reason"], from_ts(r["at"])) for r in rows]


async def waiting(
    conn: Conn, guild_id: int, cutoff: datetime, limit: int
) -> tuple[list[tuple[IdeaLine, datetime]], int]:
    """Ideas still open or under review whose last answer (or submission) is older than `cutoff`:
    the most supported first, with the moment they started waiting; and how many there are.
    Archived and expired ideas are out of the pipeline: listed the week it happens, not here."""
    c = to_ts(cutoff)
    since = "COALESCE((SELECT MAX(h.at) FROM status_history h WHERE h.idea_id = i.id), i.created_at)"
    where = (
        "i.guild_id = ? AND i.status IN ('open', 'under_review') AND i.message_id IS NOT NULL"
        " AND i.archived_at IS NULL AND i.expired_at IS NULL"
        f" AND i.created_at < ? AND {since} < ?"
    )
    total = await _one(conn, f"SELECT COUNT(*) FROM ideas i WHERE {where}", (guild_id, c, c))
    async with conn.execute(
        f"SELECT {LINE_COLUMNS}, {since} AS since"
        f" FROM ideas i WHERE {where} ORDER BY i.upvotes - i.downvotes DESC, since, i.number LIMIT ?",
        (guild_id, c, c, limit),
    ) as cursor:
        rows = await cursor.fetchall()
    return [(_line(row), from_ts(row["since"])) for row in rows], int(total[0])


async def top_contributors(conn: Conn, guild_id: int, start: datetime, end: datetime, limit: int) -> list[Contributor]:
    """From the reputation ledger when it exists; empty otherwise.

    Points a member earned through an idea they are behind anonymously (its author, or a
    co-author through an anonymous idea: bot/ideas/privacy.py) are left out: the list is public,
    and a name next to the week's points must not give away who wrote an anonymous idea.
    The ledger itself still credits them."""
    async with conn.execute(
        "SELECT r.user_id, SUM(r.delta) AS points FROM reputation_events r"
        f" WHERE r.guild_id = ? AND r.at >= ? AND r.at < ? AND NOT {anonymous_credit_sql('r')}"
        " GROUP BY r.user_id HAVING SUM(r.delta) > 0 ORDER BY points DESC, r.user_id LIMIT ?",
        (guild_id, to_ts(start), to_ts(end), limit),
    ) as cursor:
        return [Contributor(int(row[0]), int(row[1])) for row in await cursor.fetchall()]


async def promotions(conn: Conn, guild_id: int, start: datetime, end: datetime, limit: int) -> list[Promotion]:
    """Reward roles granted in the week (role_awards)."""
    async with conn.execute(
        "SELECT user_id, role_id, at FROM role_awards WHERE guild_id = ? AND at >= ? AND at < ?"
        " AND action = 'added' ORDER BY at LIMIT ?",
        (guild_id, to_ts(start), to_ts(end), limit),
    ) as cursor:
        return [Promotion(int(row[0]), int(row[1]), from_ts(row[2])) for row in await cursor.fetchall()]


# --- innovation programmes (migration 0004; the queries mirror bot/programmes/storage.py) -------------------

LISTED = "i.message_id IS NOT NULL AND i.status NOT IN ('withdrawn', 'duplicate')"


async def programme_stages(conn: Conn, guild_id: int) -> str | None:
    """The guild's support stages as typed ('10/30 25/60'); None: the defaults."""
    row = await _one(conn, "SELECT stages FROM programme_settings WHERE guild_id = ?", (guild_id,))
    return None if row is None else row[0]


async def crossings(
    conn: Conn, guild_id: int, start: datetime, end: datetime, limit: int
) -> tuple[list[tuple[IdeaLine, int, int, datetime]], int]:
    """(idea, stage, upvotes when crossed, when) for support stages reached in [start, end), in
    the order they were reached; and how many there are. Through threshold_crossings_by_guild_time."""
    where = f"t.guild_id = ? AND t.at >= ? AND t.at < ? AND {LISTED}"
    params = (guild_id, to_ts(start), to_ts(end))
    total = await _one(
        conn, f"SELECT COUNT(*) FROM threshold_crossings t JOIN ideas i ON i.id = t.idea_id WHERE {where}", params
    )
    async with conn.execute(
        f"SELECT {LINE_COLUMNS}, t.stage, t.votes AS crossed_votes, t.at AS crossed_at"
        f" FROM threshold_crossings t JOIN ideas i ON i.id = t.idea_id WHERE {where}"
        " ORDER BY t.at, i.number, t.stage LIMIT ?",
        (*params, limit),
    ) as cursor:
        rows = await cursor.fetchall()
    found = [(_line(r), int(r["stage"]), int(r["crossed_votes"]), from_ts(r["crossed_at"])) for r in rows]
    return found, int(total[0])


_MARKS = {"archived": "archived_at", "expired": "expired_at"}


async def marked_between(
    conn: Conn, guild_id: int, mark: str, start: datetime, end: datetime, limit: int
) -> tuple[list[tuple[IdeaLine, datetime]], int]:
    """Ideas archived (mark 'archived', ideas.archived_at) or expired ('expired', ideas.expired_at)
    in [start, end), oldest first, with the moment; and how many there are (one pass: the total
    is a window count). Both are range searches on partial indexes (ideas_by_archived from
    migration 0004, ideas_expired from 0006)."""
    column = _MARKS[mark]
    async with conn.execute(
        f"SELECT {LINE_COLUMNS}, i.{column} AS marked_at, COUNT(*) OVER () AS total FROM ideas i"
        f" WHERE i.guild_id = ? AND i.{column} >= ? AND i.{column} < ? AND {LISTED}"
        f" ORDER BY i.{column}, i.number LIMIT ?",
        (guild_id, to_ts(start), to_ts(end), limit),
    ) as cursor:
        rows: list[Row] = list(await cursor.fetchall())
    total = int(rows[0]["total"]) if rows else 0
    return [(_line(r), from_ts(r["marked_at"])) for r in rows], total


async def closed_challenges(
    conn: Conn, guild_id: int, start: datetime, end: datetime, limit: int
) -> list[ChallengeLine]:
    """Challenges closed in [start, end) with their winning ideas by place. Authors are not read:
    a winner may be anonymous, and the digest names ideas, not their authors."""
    async with conn.execute(
        "SELECT id, number, title, award, closed_at FROM challenges"
        " WHERE guild_id = ? AND closed_at >= ? AND closed_at < ? ORDER BY closed_at, number LIMIT ?",
        (guild_id, to_ts(start), to_ts(end), limit),
    ) as cursor:
        challenges = await cursor.fetchall()
    if not challenges:
        return []
    ids = [int(row["id"]) for row in challenges]
    winners: dict[int, list[WinnerLine]] = {challenge_id: [] for challenge_id in ids}
    async with conn.execute(
        f"SELECT w.challenge_id, w.place, w.points, {LINE_COLUMNS} FROM challenge_winners w"
        f" JOIN ideas i ON i.id = w.idea_id WHERE w.challenge_id IN ({','.join('?' * len(ids))})"
        " ORDER BY w.challenge_id, w.place",
        ids,
    ) as cursor:
        for row in await cursor.fetchall():
            winners[int(row["challenge_id"])].append(WinnerLine(int(row["place"]), _line(row), int(row["points"])))
    return [
        ChallengeLine(row["number"], row["title"], row["award"], from_ts(row["closed_at"]), tuple(winners[row["id"]]))
        for row in challenges
    ]


# --- the LLM's synthesis of a week ---------------------------------------------------------------------


async def synthesis(
    conn: Conn, guild_id: int, week: str, ideas_key: str
) -> tuple[str, str, list[dict[str, Any]]] | None:
    """(outcome, summary, themes as stored) when the week's synthesis was made from these ideas."""
    async with conn.execute(
        "SELECT outcome, summary, themes FROM digest_syntheses WHERE guild_id = ? AND iso_week = ? AND ideas_key = ?",
        (guild_id, week, ideas_key),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    themes: list[dict[str, Any]] = json.loads(row[2])
    return str(row[0]), str(row[1]), themes


async def save_synthesis(
    conn: Conn,
    guild_id: int,
    week: str,
    ideas_key: str,
    outcome: str,
    summary: str,
    themes: list[dict[str, Any]],
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO digest_syntheses (guild_id, iso_week, ideas_key, outcome, summary, themes, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, iso_week) DO UPDATE SET"
        " ideas_key = excluded.ideas_key, outcome = excluded.outcome, summary = excluded.summary,"
        " themes = excluded.themes, created_at = excluded.created_at",
        (guild_id, week, ideas_key, outcome, summary, json.dumps(themes, ensure_ascii=False), to_ts(now)),
    )
