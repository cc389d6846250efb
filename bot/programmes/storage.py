"""Programme queries: settings, support-stage crossings, expiry, archiving, challenges and
their winners, contribution terms and consents, drafts waiting for consent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.ideas.rules import Idea, Status
from bot.ideas.storage import attach_coauthors
from bot.storage import Conn, Row
from bot.storage.rows import IDEA_COLUMNS, from_ts, idea_from_row, maybe_dt, to_ts


@dataclass(frozen=True, slots=True)
class ProgrammeRow:
    guild_id: int
    stages: str | None = None
    archive_days: int | None = None
    allow_anonymous: bool = False
    terms_text: str | None = None
    terms_version: str | None = None


async def get_settings(conn: Conn, guild_id: int) -> ProgrammeRow:
    async with conn.execute(
        "SELECT stages, archive_days, allow_anonymous, terms_text, terms_version FROM programme_settings"
        " WHERE guild_id = ?",
        (guild_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return ProgrammeRow(guild_id)
    return ProgrammeRow(
        guild_id,
        row["stages"],
        row["archive_days"],
        bool(row["allow_anonymous"]),
        row["terms_text"],
        row["terms_version"],
    )


async def _upsert(conn: Conn, guild_id: int, column: str, value: object, now: datetime) -> None:
    assert column in {"stages", "archive_days", "allow_anonymous"}
    await conn.execute(
        f"INSERT INTO programme_settings (guild_id, {column}, updated_at) VALUES (?, ?, ?)"
        f" ON CONFLICT(guild_id) DO UPDATE SET {column} = excluded.{column}, updated_at = excluded.updated_at",
        (guild_id, value, to_ts(now)),
    )


async def save_stages(conn: Conn, guild_id: int, stages: str, now: datetime) -> None:
    await _upsert(conn, guild_id, "stages", stages, now)


async def save_archive_days(conn: Conn, guild_id: int, days: int, now: datetime) -> None:
    await _upsert(conn, guild_id, "archive_days", days, now)


async def save_allow_anonymous(conn: Conn, guild_id: int, allow: bool, now: datetime) -> None:
    await _upsert(conn, guild_id, "allow_anonymous", int(allow), now)


async def save_terms(conn: Conn, guild_id: int, text: str, version: str, now: datetime) -> None:
    ts = to_ts(now)
    await conn.execute(
        "INSERT INTO programme_settings (guild_id, terms_text, terms_version, terms_set_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT(guild_id) DO UPDATE SET terms_text = excluded.terms_text,"
        " terms_version = excluded.terms_version, terms_set_at = excluded.terms_set_at,"
        " updated_at = excluded.updated_at",
        (guild_id, text, version, ts, ts),
    )


async def guilds_with_ideas(conn: Conn) -> list[int]:
    async with conn.execute("SELECT DISTINCT guild_id FROM ideas WHERE message_id IS NOT NULL") as cursor:
        return [row[0] for row in await cursor.fetchall()]


# --- support stages ------------------------------------------------------------------------

_STAGE_OF = "COALESCE((SELECT MAX(stage) FROM threshold_crossings t WHERE t.idea_id = ideas.id), 0)"
_WINDOW_OF = "COALESCE(support_window_start, created_at)"


@dataclass(frozen=True, slots=True)
class TrackedIdea:
    idea: Idea
    stage: int  # the highest support stage reached (0: none)
    window_start: datetime


async def _tracked(conn: Conn, where: str, params: Sequence[object]) -> list[TrackedIdea]:
    sql = (
        f"SELECT {IDEA_COLUMNS}, {_STAGE_OF} AS stage, {_WINDOW_OF} AS window_start FROM ideas"
        f" WHERE message_id IS NOT NULL AND {where}"
    )
    async with conn.execute(sql, tuple(params)) as cursor:
        rows = await cursor.fetchall()
    return [TrackedIdea(idea_from_row(row), int(row["stage"]), from_ts(row["window_start"])) for row in rows]


async def tracked_idea(conn: Conn, idea_id: int) -> TrackedIdea | None:
    found = await _tracked(conn, "id = ?", (idea_id,))
    return found[0] if found else None


def _status_marks(statuses: Sequence[Status]) -> str:
    return ",".join("?" * len(statuses))


async def ideas_on_the_track(conn: Conn, guild_id: int, statuses: Sequence[Status]) -> list[TrackedIdea]:
    """Ideas in `statuses` that are neither archived nor expired."""
    return await _tracked(
        conn,
        f"guild_id = ? AND archived_at IS NULL AND expired_at IS NULL AND status IN ({_status_marks(statuses)})",
        (guild_id, *(s.value for s in statuses)),
    )


async def record_crossing(conn: Conn, guild_id: int, idea_id: int, stage: int, votes: int, at: datetime) -> bool:
    """False when this stage was already recorded for the idea."""
    cursor = await conn.execute(
        "INSERT INTO threshold_crossings (guild_id, idea_id, stage, votes, at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (guild_id, idea_id, stage, votes, to_ts(at)),
    )
    return cursor.rowcount == 1


async def unannounced_crossings(conn: Conn) -> list[tuple[int, int]]:
    """(idea id, highest stage) of crossings recorded but not yet acted on and announced."""
    async with conn.execute(
        "SELECT idea_id, MAX(stage) FROM threshold_crossings WHERE announced_at IS NULL GROUP BY idea_id"
        " ORDER BY idea_id"
    ) as cursor:
        return [(row[0], row[1]) for row in await cursor.fetchall()]


async def mark_announced(conn: Conn, idea_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE threshold_crossings SET announced_at = ? WHERE idea_id = ? AND announced_at IS NULL",
        (to_ts(now), idea_id),
    )


async def crossings_between(
    conn: Conn, guild_id: int, since: datetime, until: datetime
) -> list[tuple[int, int, int, datetime]]:
    """(idea id, stage, votes, at) crossed in [since, until), oldest first."""
    async with conn.execute(
        "SELECT idea_id, stage, votes, at FROM threshold_crossings WHERE guild_id = ? AND at >= ? AND at < ?"
        " ORDER BY at, idea_id, stage",
        (guild_id, to_ts(since), to_ts(until)),
    ) as cursor:
        return [(row[0], row[1], row[2], from_ts(row[3])) for row in await cursor.fetchall()]


async def review_queue(conn: Conn, guild_id: int, limit: int) -> list[TrackedIdea]:
    """Ideas under review (not archived or expired): highest stage first, then longest waiting."""
    return await _tracked(
        conn,
        "guild_id = ? AND status = 'under_review' AND archived_at IS NULL AND expired_at IS NULL"
        f" ORDER BY stage DESC, COALESCE((SELECT MAX(at) FROM threshold_crossings t WHERE t.idea_id = ideas.id),"
        f" last_activity_at), number LIMIT {int(limit)}",
        (guild_id,),
    )


async def mark_expired(conn: Conn, tracked: TrackedIdea, statuses: Sequence[Status], now: datetime) -> bool:
    """Compare-and-set on what the caller judged: still on the track in `statuses` and no stage
    beyond `tracked.stage` reached since. False when nothing was written."""
    cursor = await conn.execute(
        "UPDATE ideas SET expired_at = ? WHERE id = ? AND expired_at IS NULL AND archived_at IS NULL"
        f" AND status IN ({_status_marks(statuses)}) AND {_STAGE_OF} = ?",
        (to_ts(now), tracked.idea.id, *(s.value for s in statuses), tracked.stage),
    )
    return cursor.rowcount == 1


async def archive_candidates(
    conn: Conn, guild_id: int, statuses: Sequence[Status], inactive_since: datetime
) -> list[Idea]:
    """Not yet archived, in `statuses`, no status change or vote since `inactive_since`."""
    found = await _tracked(
        conn,
        f"guild_id = ? AND archived_at IS NULL AND status IN ({_status_marks(statuses)}) AND last_activity_at <= ?",
        (guild_id, *(s.value for s in statuses), to_ts(inactive_since)),
    )
    return [t.idea for t in found]


async def mark_archived(
    conn: Conn, idea_id: int, statuses: Sequence[Status], inactive_since: datetime, now: datetime
) -> bool:
    """Compare-and-set: only while the idea is still in `statuses` and quiet since
    `inactive_since` (a vote or a decision meanwhile keeps it). False when nothing was written."""
    cursor = await conn.execute(
        "UPDATE ideas SET archived_at = ? WHERE id = ? AND archived_at IS NULL"
        f" AND status IN ({_status_marks(statuses)}) AND last_activity_at <= ?",
        (to_ts(now), idea_id, *(s.value for s in statuses), to_ts(inactive_since)),
    )
    return cursor.rowcount == 1


async def reopen(conn: Conn, idea_id: int, now: datetime, *, restart_window: bool) -> bool:
    """Clear the expired and archived marks; a revive also restarts the support window. False
    when the idea was neither expired nor archived (e.g. a simultaneous revive came first)."""
    ts = to_ts(now)
    closed = "(expired_at IS NOT NULL OR archived_at IS NOT NULL)"
    if restart_window:
        cursor = await conn.execute(
            "UPDATE ideas SET expired_at = NULL, archived_at = NULL, support_window_start = ?,"
            f" last_activity_at = ? WHERE id = ? AND {closed}",
            (ts, ts, idea_id),
        )
    else:
        cursor = await conn.execute(
            f"UPDATE ideas SET expired_at = NULL, archived_at = NULL WHERE id = ? AND {closed}", (idea_id,)
        )
    return cursor.rowcount == 1


async def archived_between(conn: Conn, guild_id: int, since: datetime, until: datetime) -> list[Idea]:
    found = await _tracked(
        conn,
        "guild_id = ? AND archived_at >= ? AND archived_at < ? ORDER BY archived_at, number",
        (guild_id, to_ts(since), to_ts(until)),
    )
    return [t.idea for t in found]


# --- challenges ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    id: int
    guild_id: int
    number: int
    title: str
    brief: str
    award: str | None
    deadline: datetime
    opened_by: int
    opened_at: datetime
    closed_at: datetime | None
    closed_by: int | None
    entries: int = 0

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


@dataclass(frozen=True, slots=True)
class Winner:
    challenge_id: int
    place: int
    idea_id: int
    author_id: int
    points: int


_CHALLENGE_COLUMNS = (
    "id, guild_id, number, title, brief, award, deadline, opened_by, opened_at, closed_at, closed_by,"
    " (SELECT COUNT(*) FROM ideas i WHERE i.challenge_id = challenges.id AND i.message_id IS NOT NULL) AS entries"
)


def _challenge(row: Row) -> Challenge:
    return Challenge(
        id=row["id"],
        guild_id=row["guild_id"],
        number=row["number"],
        title=row["title"],
        brief=row["brief"],
        award=row["award"],
        deadline=from_ts(row["deadline"]),
        opened_by=row["opened_by"],
        opened_at=from_ts(row["opened_at"]),
        closed_at=maybe_dt(row["closed_at"]),
        closed_by=row["closed_by"],
        entries=row["entries"],
    )


async def _challenges(conn: Conn, where: str, params: Sequence[object]) -> list[Challenge]:
    async with conn.execute(f"SELECT {_CHALLENGE_COLUMNS} FROM challenges WHERE {where}", tuple(params)) as cursor:
        return [_challenge(row) for row in await cursor.fetchall()]


async def insert_challenge(
    conn: Conn,
    guild_id: int,
    title: str,
    brief: str,
    award: str | None,
    deadline: datetime,
    opened_by: int,
    now: datetime,
) -> Challenge:
    async with conn.execute(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM challenges WHERE guild_id = ?", (guild_id,)
    ) as cursor:
        row = await cursor.fetchone()
    number = int(row[0]) if row else 1
    async with conn.execute(
        "INSERT INTO challenges (guild_id, number, title, brief, award, deadline, opened_by, opened_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (guild_id, number, title, brief, award, to_ts(deadline), opened_by, to_ts(now)),
    ) as cursor:
        inserted = await cursor.fetchone()
    assert inserted is not None
    found = await _challenges(conn, "id = ?", (int(inserted[0]),))
    return found[0]


async def get_challenge(conn: Conn, guild_id: int, number: int) -> Challenge | None:
    found = await _challenges(conn, "guild_id = ? AND number = ?", (guild_id, number))
    return found[0] if found else None


async def get_challenge_by_id(conn: Conn, challenge_id: int) -> Challenge | None:
    found = await _challenges(conn, "id = ?", (challenge_id,))
    return found[0] if found else None


async def list_challenges(conn: Conn, guild_id: int, limit: int = 25) -> list[Challenge]:
    """Open ones first (soonest deadline first), then the most recently closed."""
    return await _challenges(
        conn,
        "guild_id = ? ORDER BY closed_at IS NOT NULL, CASE WHEN closed_at IS NULL THEN deadline"
        f" ELSE -closed_at END, number LIMIT {int(limit)}",
        (guild_id,),
    )


async def due_challenges(conn: Conn, now: datetime) -> list[Challenge]:
    return await _challenges(conn, "closed_at IS NULL AND deadline <= ? ORDER BY deadline, id", (to_ts(now),))


async def challenge_entries(conn: Conn, challenge_id: int, exclude: Sequence[Status]) -> list[Idea]:
    async with conn.execute(
        f"SELECT {IDEA_COLUMNS} FROM ideas WHERE challenge_id = ? AND message_id IS NOT NULL"
        f" AND status NOT IN ({_status_marks(exclude)}) ORDER BY number",
        (challenge_id, *(s.value for s in exclude)),
    ) as cursor:
        rows = await cursor.fetchall()
    return await attach_coauthors(conn, [idea_from_row(row) for row in rows])


async def close_challenge(conn: Conn, challenge_id: int, closed_by: int | None, now: datetime) -> bool:
    """False when it was already closed (closing twice never records winners twice)."""
    cursor = await conn.execute(
        "UPDATE challenges SET closed_at = ?, closed_by = ? WHERE id = ? AND closed_at IS NULL",
        (to_ts(now), closed_by, challenge_id),
    )
    return cursor.rowcount == 1


async def record_winner(conn: Conn, winner: Winner, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO challenge_winners (challenge_id, place, idea_id, author_id, points, at) VALUES (?, ?, ?, ?, ?, ?)",
        (winner.challenge_id, winner.place, winner.idea_id, winner.author_id, winner.points, to_ts(now)),
    )


async def winners_of(conn: Conn, challenge_id: int) -> list[Winner]:
    async with conn.execute(
        "SELECT challenge_id, place, idea_id, author_id, points FROM challenge_winners WHERE challenge_id = ?"
        " ORDER BY place",
        (challenge_id,),
    ) as cursor:
        return [Winner(*row) for row in await cursor.fetchall()]


# --- terms and consent -------------------------------------------------------------------------


async def has_consented(conn: Conn, guild_id: int, user_id: int, version: str) -> bool:
    async with conn.execute(
        "SELECT 1 FROM consents WHERE guild_id = ? AND user_id = ? AND terms_version = ?", (guild_id, user_id, version)
    ) as cursor:
        return await cursor.fetchone() is not None


async def record_consent(conn: Conn, guild_id: int, user_id: int, version: str, now: datetime) -> bool:
    cursor = await conn.execute(
        "INSERT INTO consents (guild_id, user_id, terms_version, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (guild_id, user_id, version, to_ts(now)),
    )
    return cursor.rowcount == 1
