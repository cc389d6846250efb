"""Reputation: the append-only ledger, per-guild rules, reward roles, role awards and
serial-voting flags. Rows of `reputation_events` are only ever inserted."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bot.events.types import IdeasMerged, MovedVote
from bot.reputation.rules import DEFAULT_RULES, ReputationRules, RewardRole
from bot.storage import Conn, Row, SyncConn, is_postgres
from bot.storage.rows import from_ts, from_us, to_ts, to_us


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
    # Credit for an idea its person is behind anonymously (bot/ideas/privacy.py decides who sees it).
    anonymous: bool = False


def anonymous_credit_sql(row: str) -> str:
    """SQL true when the ledger row aliased `row` credits its person for an idea they are behind
    anonymously: the set form of `bot.domain.privacy.is_anonymous_link`, for aggregates."""
    return (
        f"EXISTS (SELECT 1 FROM ideas anon_i WHERE anon_i.id = {row}.idea_id"
        f" AND ((anon_i.anonymous = 1 AND anon_i.author_id = {row}.user_id) OR EXISTS (SELECT 1 FROM idea_coauthors"
        f" anon_c WHERE anon_c.idea_id = anon_i.id AND anon_c.user_id = {row}.user_id AND anon_c.anonymous = 1)))"
    )


_LEDGER_COLUMNS = (
    "id, guild_id, user_id, delta, reason, idea_id, source, voter_id, at,"
    f" {anonymous_credit_sql('reputation_events')} AS anonymous"
)


def _ledger_row(row: Row) -> LedgerRow:
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
        anonymous=bool(row["anonymous"]),
    )


# --- the ledger ----------------------------------------------------------------------------


async def append(
    conn: Conn,
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


async def _scalar(conn: Conn, sql: str, params: tuple[object, ...]) -> int:
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return int(row[0] or 0) if row else 0


async def total(conn: Conn, guild_id: int, user_id: int, *, include_anonymous: bool = True) -> int:
    """`include_anonymous` False: without credit for ideas the member is behind anonymously."""
    sql = "SELECT SUM(delta) FROM reputation_events r WHERE guild_id = ? AND user_id = ?"
    if not include_anonymous:
        sql += f" AND NOT {anonymous_credit_sql('r')}"
    return await _scalar(conn, sql, (guild_id, user_id))


async def vote_credit(conn: Conn, idea_id: int, voter_id: int, user_id: int) -> int:
    """What one voter's vote on an idea currently credits `user_id`."""
    return await _scalar(
        conn,
        "SELECT SUM(delta) FROM reputation_events WHERE idea_id = ? AND voter_id = ? AND user_id = ?",
        (idea_id, voter_id, user_id),
    )


async def vote_points_since(conn: Conn, guild_id: int, user_id: int, since: datetime) -> int:
    """Net points from votes (credits minus their reversals) written since `since`."""
    return await _scalar(
        conn,
        "SELECT SUM(delta) FROM reputation_events WHERE guild_id = ? AND user_id = ? AND voter_id IS NOT NULL"
        " AND at > ?",
        (guild_id, user_id, to_ts(since)),
    )


async def counted_since(conn: Conn, guild_id: int, user_id: int, source: str, since: datetime) -> int:
    """How many positive rows of `source` the member earned since `since`."""
    return await _scalar(
        conn,
        "SELECT COUNT(*) FROM reputation_events WHERE guild_id = ? AND user_id = ? AND source = ? AND delta > 0"
        " AND at > ?",
        (guild_id, user_id, source, to_ts(since)),
    )


async def idea_source_credit(conn: Conn, idea_id: int, user_id: int, source: str) -> int:
    """Positive points of one kind ever credited on an idea (reversed or not): bonuses are once."""
    return await _scalar(
        conn,
        "SELECT COALESCE(SUM(delta), 0) FROM reputation_events WHERE idea_id = ? AND user_id = ? AND source = ?"
        " AND delta > 0",
        (idea_id, user_id, source),
    )


async def outstanding_on_idea(conn: Conn, idea_id: int) -> list[tuple[int, int | None, int]]:
    """(user, voter, points still credited) for every non-zero group of rows on an idea."""
    async with conn.execute(
        "SELECT user_id, voter_id, SUM(delta) FROM reputation_events WHERE idea_id = ?"
        " GROUP BY user_id, voter_id HAVING SUM(delta) != 0 ORDER BY user_id, voter_id",
        (idea_id,),
    ) as cursor:
        return [(row[0], row[1], int(row[2])) for row in await cursor.fetchall()]


async def recent_events(
    conn: Conn, guild_id: int, user_id: int, limit: int = 10, *, include_anonymous: bool = True
) -> list[LedgerRow]:
    hide = "" if include_anonymous else f" AND NOT {anonymous_credit_sql('reputation_events')}"
    async with conn.execute(
        f"SELECT {_LEDGER_COLUMNS} FROM reputation_events WHERE guild_id = ? AND user_id = ?{hide}"
        " ORDER BY at DESC, id DESC LIMIT ?",
        (guild_id, user_id, limit),
    ) as cursor:
        return [_ledger_row(row) for row in await cursor.fetchall()]


async def ledger(conn: Conn, guild_id: int) -> list[LedgerRow]:
    async with conn.execute(
        f"SELECT {_LEDGER_COLUMNS} FROM reputation_events WHERE guild_id = ? ORDER BY id", (guild_id,)
    ) as cursor:
        return [_ledger_row(row) for row in await cursor.fetchall()]


async def totals(
    conn: Conn,
    guild_id: int,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    include_anonymous: bool = True,
) -> list[tuple[int, int]]:
    """(user, points) with points > 0, best first; `since` limits to points earned after it;
    `include_anonymous` False leaves out credit for ideas a member is behind anonymously."""
    sql = "SELECT user_id, SUM(delta) AS points FROM reputation_events r WHERE guild_id = ?"
    if not include_anonymous:
        sql += f" AND NOT {anonymous_credit_sql('r')}"
    params: list[object] = [guild_id]
    if since is not None:
        sql += " AND at > ?"
        params.append(to_ts(since))
    sql += " GROUP BY user_id HAVING SUM(delta) > 0 ORDER BY points DESC, user_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    async with conn.execute(sql, params) as cursor:
        return [(row[0], int(row[1])) for row in await cursor.fetchall()]


async def members_with_points(conn: Conn, guild_id: int) -> list[int]:
    async with conn.execute(
        "SELECT DISTINCT user_id FROM reputation_events WHERE guild_id = ? ORDER BY user_id", (guild_id,)
    ) as cursor:
        return [row[0] for row in await cursor.fetchall()]


# --- votes and ideas, as reputation needs them -----------------------------------------------


async def upvote_times_between(
    conn: Conn, guild_id: int, voter_id: int, author_id: int, since: datetime
) -> list[datetime]:
    """When the voter's current upvotes on the author's ideas were last set, since `since`."""
    async with conn.execute(
        "SELECT v.updated_at FROM votes v JOIN ideas i ON i.id = v.idea_id WHERE i.guild_id = ?"
        " AND i.author_id = ? AND v.voter_id = ? AND v.value = 1 AND v.updated_at > ?",
        (guild_id, author_id, voter_id, to_ts(since)),
    ) as cursor:
        return [from_ts(row[0]) for row in await cursor.fetchall()]


async def ideas_posted_since(conn: Conn, guild_id: int, author_id: int, since: datetime) -> int:
    return await _scalar(
        conn,
        "SELECT COUNT(*) FROM ideas WHERE guild_id = ? AND author_id = ? AND created_at > ?"
        " AND message_id IS NOT NULL AND status != 'withdrawn'",
        (guild_id, author_id, to_ts(since)),
    )


async def bonus_status_changes_since(conn: Conn, since: datetime) -> list[tuple[int, int, int, str, datetime]]:
    """(guild, idea, author, new status, at) of changes to a status that pays a bonus."""
    async with conn.execute(
        "SELECT i.guild_id, h.idea_id, i.author_id, h.new_status, h.at FROM status_history h"
        " JOIN ideas i ON i.id = h.idea_id WHERE h.at > ? AND h.new_status IN ('planned', 'implemented')"
        " ORDER BY h.id",
        (to_ts(since),),
    ) as cursor:
        return [(row[0], row[1], row[2], row[3], from_ts(row[4])) for row in await cursor.fetchall()]


async def submitted_without_credit(conn: Conn, since: datetime) -> list[tuple[int, int, int, datetime]]:
    """(guild, idea, author, created) of posted ideas since `since` with no submission row:
    never credited, or over the daily cap (asking again gives nothing then)."""
    async with conn.execute(
        "SELECT i.guild_id, i.id, i.author_id, i.created_at FROM ideas i WHERE i.created_at > ?"
        " AND i.message_id IS NOT NULL AND i.status != 'withdrawn' AND NOT EXISTS (SELECT 1 FROM"
        " reputation_events r WHERE r.idea_id = i.id AND r.source = 'submission') ORDER BY i.created_at, i.id",
        (to_ts(since),),
    ) as cursor:
        return [(row[0], row[1], row[2], from_ts(row[3])) for row in await cursor.fetchall()]


async def withdrawn_with_credit(conn: Conn, since: datetime) -> list[tuple[int, int, int, datetime]]:
    """(guild, idea, author, withdrawn) of ideas withdrawn since `since` that still credit someone."""
    async with conn.execute(
        "SELECT i.guild_id, i.id, i.author_id, i.updated_at FROM ideas i WHERE i.status = 'withdrawn'"
        " AND i.updated_at > ? AND EXISTS (SELECT 1 FROM reputation_events r WHERE r.idea_id = i.id"
        " GROUP BY r.user_id, r.voter_id HAVING SUM(r.delta) != 0) ORDER BY i.id",
        (to_ts(since),),
    ) as cursor:
        return [(row[0], row[1], row[2], from_ts(row[3])) for row in await cursor.fetchall()]


def encode_merge(event: IdeasMerged) -> str:
    """Deterministic: the credit finds its row by this text. Times as integer microseconds."""
    moved = [
        (m.voter_id, m.value, m.kept, None if m.voter_joined_at is None else to_us(m.voter_joined_at))
        for m in event.moved_votes
    ]
    return json.dumps(
        (
            event.guild_id,
            event.source_id,
            event.target_id,
            event.source_author_id,
            event.target_author_id,
            moved,
            event.moderator_id,
            to_us(event.at),
        )
    )


def decode_merge(document: str) -> IdeasMerged:
    guild_id, source_id, target_id, source_author, target_author, moved, moderator_id, at = json.loads(document)
    votes = tuple(
        MovedVote(voter, value, kept, None if joined is None else from_us(joined))
        for voter, value, kept, joined in moved
    )
    return IdeasMerged(guild_id, source_id, target_id, source_author, target_author, votes, moderator_id, from_us(at))


async def owe_merge_credit(conn: Conn, event: IdeasMerged) -> None:
    await conn.execute("INSERT INTO merge_effects (event) VALUES (?)", (encode_merge(event),))


async def take_merge_credit(conn: Conn, event: IdeasMerged) -> None:
    await conn.execute(
        "DELETE FROM merge_effects WHERE id = (SELECT MIN(id) FROM merge_effects WHERE event = ?)",
        (encode_merge(event),),
    )


async def owed_merge_credits(conn: Conn) -> list[IdeasMerged]:
    async with conn.execute("SELECT event FROM merge_effects ORDER BY id") as cursor:
        return [decode_merge(row[0]) for row in await cursor.fetchall()]


async def owe_thanks(conn: Conn, idea_id: int, status: str, people: list[int]) -> None:
    await conn.execute(
        "INSERT INTO thanks_owed (idea_id, status, people) VALUES (?, ?, ?)"
        " ON CONFLICT (idea_id, status) DO UPDATE SET people = excluded.people",
        (idea_id, status, json.dumps(people)),
    )


async def owed_thanks(conn: Conn) -> list[tuple[int, str, list[int]]]:
    order = "idea_id, status" if is_postgres(conn) else "rowid"  # PostgreSQL has no insertion order
    async with conn.execute(f"SELECT idea_id, status, people FROM thanks_owed ORDER BY {order}") as cursor:
        return [(row[0], row[1], json.loads(row[2])) for row in await cursor.fetchall()]


async def thanked(conn: Conn, idea_id: int, status: str) -> None:
    await conn.execute("DELETE FROM thanks_owed WHERE idea_id = ? AND status = ?", (idea_id, status))


# --- rules ---------------------------------------------------------------------------------


async def get_rules(conn: Conn, guild_id: int) -> ReputationRules:
    names = ReputationRules.names()
    async with conn.execute(
        f"SELECT {', '.join(names)} FROM reputation_rules WHERE guild_id = ?", (guild_id,)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return DEFAULT_RULES
    return _rules_from(names, tuple(row))


def _rules_from(names: tuple[str, ...], values: tuple[int | None, ...]) -> ReputationRules:
    """Unset columns keep the defaults."""
    return DEFAULT_RULES.replace(
        **{name: value for name, value in zip(names, values, strict=True) if value is not None}
    )


async def save_rules(conn: Conn, guild_id: int, rules: ReputationRules, now: datetime) -> None:
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


async def reward_roles(conn: Conn, guild_id: int) -> list[RewardRole]:
    async with conn.execute(
        "SELECT role_id, points FROM reward_roles WHERE guild_id = ? ORDER BY points, role_id", (guild_id,)
    ) as cursor:
        return [RewardRole(row[0], row[1]) for row in await cursor.fetchall()]


async def put_reward_role(
    conn: Conn, guild_id: int, role_id: int, points: int, added_by: int | None, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO reward_roles (guild_id, role_id, points, added_by, at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(guild_id, role_id) DO UPDATE SET points = excluded.points, added_by = excluded.added_by,"
        " at = excluded.at",
        (guild_id, role_id, points, added_by, to_ts(now)),
    )


async def delete_reward_role(conn: Conn, guild_id: int, role_id: int) -> bool:
    cursor = await conn.execute("DELETE FROM reward_roles WHERE guild_id = ? AND role_id = ?", (guild_id, role_id))
    return cursor.rowcount > 0


async def guilds_with_reward_roles(conn: Conn) -> list[int]:
    """Guilds where the bot manages roles: with reward roles, or having given one."""
    async with conn.execute(
        "SELECT guild_id FROM reward_roles UNION SELECT guild_id FROM role_awards ORDER BY guild_id"
    ) as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def record_role_award(conn: Conn, guild_id: int, user_id: int, role_id: int, action: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO role_awards (guild_id, user_id, role_id, action, at) VALUES (?, ?, ?, ?, ?)",
        (guild_id, user_id, role_id, action, to_ts(now)),
    )


async def held_roles(conn: Conn, guild_id: int, user_id: int) -> set[int]:
    """Roles whose latest recorded action for this member is 'added'."""
    async with conn.execute(
        "SELECT role_id, action FROM role_awards WHERE id IN (SELECT MAX(id) FROM role_awards"
        " WHERE guild_id = ? AND user_id = ? GROUP BY role_id)",
        (guild_id, user_id),
    ) as cursor:
        return {row[0] for row in await cursor.fetchall() if row[1] == "added"}


async def role_awards(conn: Conn, guild_id: int) -> list[tuple[int, int, str, datetime]]:
    """(user, role, action, at) in order."""
    async with conn.execute(
        "SELECT user_id, role_id, action, at FROM role_awards WHERE guild_id = ? ORDER BY id", (guild_id,)
    ) as cursor:
        return [(row[0], row[1], row[2], from_ts(row[3])) for row in await cursor.fetchall()]


# --- serial voting -------------------------------------------------------------------------


async def flag_serial_voting(
    conn: Conn, guild_id: int, voter_id: int, author_id: int, votes: int, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO serial_voting_flags (guild_id, voter_id, author_id, votes, at) VALUES (?, ?, ?, ?, ?)",
        (guild_id, voter_id, author_id, votes, to_ts(now)),
    )


async def latest_flag(conn: Conn, guild_id: int, voter_id: int, author_id: int) -> datetime | None:
    """When serial voting was last flagged for this voter and author, if ever."""
    async with conn.execute(
        "SELECT MAX(at) FROM serial_voting_flags WHERE guild_id = ? AND voter_id = ? AND author_id = ?",
        (guild_id, voter_id, author_id),
    ) as cursor:
        row = await cursor.fetchone()
    return from_ts(row[0]) if row is not None and row[0] is not None else None


# --- a batch of vote changes: one transaction on the connection's own thread ---------------
#
# Like the vote writer (bot/votes/storage.py): Python's sqlite3 releases the GIL around every step
# of a statement, and under a burst each re-acquire waits ~5 ms, so the rows a batch needs come
# out, and its new rows go in, as one JSON document per statement. Times travel as integer
# microseconds: divided by 10^6 they are the very doubles stored (a float through JSON text
# need not be), and `_at_us` turns a stored double back into its microseconds exactly.


def _at_us(column: str) -> str:
    return f"CAST({column} * 1000000 + 0.5 AS INTEGER)"


def _pg_at_us(column: str) -> str:
    return f"floor({column} * 1000000 + 0.5)::bigint"


def _dt(us: int) -> datetime:
    return from_ts(us / 1_000_000)


def _pg_keys(*columns: str) -> str:
    """PostgreSQL: the JSON document parameter of rows [a, b, ...] as a table of typed columns,
    `name` or `name/us` for microseconds read as seconds."""
    parts = []
    for index, column in enumerate(columns):
        if column.endswith("/us"):
            parts.append(f"(e->>{index})::float8 / 1000000 AS {column[:-3]}")
        else:
            parts.append(f"(e->>{index})::bigint AS {column}")
    return f"(SELECT {', '.join(parts)} FROM jsonb_array_elements(?::jsonb) AS e)"


def _pg_group_array(columns: str) -> str:
    return f"COALESCE(json_agg(json_build_array({columns})), '[]')"


def _one_document(conn: SyncConn, sql: str, *params: object) -> list[list[object]]:
    (found,) = conn.execute(sql, params).fetchone()
    rows: list[list[object]] = json.loads(found)
    return rows


def rules_of(conn: SyncConn, guild_ids: Iterable[int]) -> dict[int, ReputationRules]:
    """Each guild's rules (the defaults where it has none)."""
    guild_ids = set(guild_ids)
    names = ReputationRules.names()
    if is_postgres(conn):
        sql = (
            f"SELECT {_pg_group_array(', '.join(('guild_id', *names)))} FROM reputation_rules"
            " WHERE guild_id = ANY(?::bigint[])"
        )
        found = _one_document(conn, sql, list(guild_ids))
    else:
        found = _one_document(
            conn,
            f"SELECT json_group_array(json_array(guild_id, {', '.join(names)})) FROM reputation_rules"
            " WHERE guild_id IN (SELECT value FROM json_each(?))",
            json.dumps(list(guild_ids)),
        )
    rules = dict.fromkeys(guild_ids, DEFAULT_RULES)
    for guild_id, *values in found:
        assert isinstance(guild_id, int)
        rules[guild_id] = _rules_from(names, tuple(values))  # type: ignore[arg-type]
    return rules


def idea_numbers(conn: SyncConn, idea_ids: Iterable[int]) -> dict[int, int]:
    if is_postgres(conn):
        sql = f"SELECT {_pg_group_array('id, number')} FROM ideas WHERE id = ANY(?::bigint[])"
        found = _one_document(conn, sql, list(set(idea_ids)))
    else:
        found = _one_document(
            conn,
            "SELECT json_group_array(json_array(id, number)) FROM ideas WHERE id IN (SELECT value FROM json_each(?))",
            json.dumps(list(set(idea_ids))),
        )
    return {idea_id: number for idea_id, number in found}  # type: ignore[misc]


def vote_credits(conn: SyncConn, keys: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int, int], int]:
    """(idea, voter, user) -> what that vote currently credits the user (`vote_credit`), for
    every key asked about (0 when it credits nothing)."""
    keys = set(keys)
    if is_postgres(conn):
        found = _one_document(
            conn,
            f"SELECT {_pg_group_array('idea_id, voter_id, user_id, points')} FROM ("
            " SELECT k.idea_id AS idea_id, k.voter_id AS voter_id, k.user_id AS user_id, SUM(r.delta) AS points"
            f" FROM {_pg_keys('idea_id', 'voter_id', 'user_id')} AS k JOIN reputation_events AS r"
            " ON r.idea_id = k.idea_id AND r.voter_id = k.voter_id AND r.user_id = k.user_id"
            " GROUP BY k.idea_id, k.voter_id, k.user_id) AS s",
            json.dumps(list(keys)),
        )
    else:
        found = _sqlite_vote_credits(conn, keys)
    credits = dict.fromkeys(keys, 0)
    for idea_id, voter_id, user_id, points in found:
        credits[(idea_id, voter_id, user_id)] = points  # type: ignore[index,assignment]
    return credits


def _sqlite_vote_credits(conn: SyncConn, keys: set[tuple[int, int, int]]) -> list[list[object]]:
    return _one_document(
        conn,
        "SELECT json_group_array(json_array(idea_id, voter_id, user_id, points)) FROM ("
        " SELECT k.idea_id AS idea_id, k.voter_id AS voter_id, k.user_id AS user_id, SUM(r.delta) AS points"
        " FROM (SELECT json_extract(value, '$[0]') AS idea_id, json_extract(value, '$[1]') AS voter_id,"
        " json_extract(value, '$[2]') AS user_id FROM json_each(?)) AS k"
        " JOIN reputation_events AS r"
        " ON r.idea_id = k.idea_id AND r.voter_id = k.voter_id AND r.user_id = k.user_id"
        " GROUP BY k.idea_id, k.voter_id, k.user_id)",
        json.dumps(list(keys)),
    )


def vote_points_by_moment(
    conn: SyncConn, since: dict[tuple[int, int], datetime]
) -> dict[tuple[int, int], list[tuple[datetime, int]]]:
    """(guild, user) -> [(moment, net vote points written then)] after each pair's `since`:
    the rows `vote_points_since` sums, one entry per moment (a batch writes its rows at one)."""
    document = json.dumps([(guild_id, user_id, to_us(moment)) for (guild_id, user_id), moment in since.items()])
    if is_postgres(conn):
        found = _one_document(
            conn,
            f"SELECT {_pg_group_array('guild_id, user_id, at_us, points')} FROM ("
            f" SELECT k.guild_id AS guild_id, k.user_id AS user_id, {_pg_at_us('r.at')} AS at_us,"
            f" SUM(r.delta) AS points FROM {_pg_keys('guild_id', 'user_id', 'since/us')} AS k"
            " JOIN reputation_events AS r ON r.guild_id = k.guild_id AND r.user_id = k.user_id AND r.at > k.since"
            " WHERE r.voter_id IS NOT NULL GROUP BY k.guild_id, k.user_id, r.at) AS s",
            document,
        )
    else:
        found = _sqlite_vote_points_by_moment(conn, document)
    points: dict[tuple[int, int], list[tuple[datetime, int]]] = {key: [] for key in since}
    for guild_id, user_id, at_us, delta in found:
        points[(guild_id, user_id)].append((_dt(at_us), delta))  # type: ignore[index,arg-type]
    return points


def _sqlite_vote_points_by_moment(conn: SyncConn, document: str) -> list[list[object]]:
    return _one_document(
        conn,
        "SELECT json_group_array(json_array(guild_id, user_id, at_us, points)) FROM ("
        f" SELECT k.guild_id AS guild_id, k.user_id AS user_id, {_at_us('r.at')} AS at_us, SUM(r.delta) AS points"
        " FROM (SELECT json_extract(value, '$[0]') AS guild_id, json_extract(value, '$[1]') AS user_id,"
        " json_extract(value, '$[2]') / 1000000.0 AS since FROM json_each(?)) AS k"
        " JOIN reputation_events AS r ON r.guild_id = k.guild_id AND r.user_id = k.user_id AND r.at > k.since"
        " WHERE r.voter_id IS NOT NULL GROUP BY k.guild_id, k.user_id, r.at)",
        document,
    )


def latest_serial_flags(conn: SyncConn, keys: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int, int], datetime]:
    """(guild, voter, author) -> when serial voting was last flagged, for the flagged keys."""
    if is_postgres(conn):
        found = _one_document(
            conn,
            f"SELECT {_pg_group_array('guild_id, voter_id, author_id, ' + _pg_at_us('at'))} FROM ("
            " SELECT f.guild_id AS guild_id, f.voter_id AS voter_id, f.author_id AS author_id, MAX(f.at) AS at"
            f" FROM {_pg_keys('guild_id', 'voter_id', 'author_id')} AS k JOIN serial_voting_flags AS f"
            " ON f.guild_id = k.guild_id AND f.voter_id = k.voter_id AND f.author_id = k.author_id"
            " GROUP BY f.guild_id, f.voter_id, f.author_id) AS s",
            json.dumps(list(set(keys))),
        )
        return {(g, v, a): _dt(at_us) for g, v, a, at_us in found}  # type: ignore[misc,arg-type]
    found = _one_document(
        conn,
        f"SELECT json_group_array(json_array(guild_id, voter_id, author_id, {_at_us('at')})) FROM ("
        " SELECT f.guild_id AS guild_id, f.voter_id AS voter_id, f.author_id AS author_id, MAX(f.at) AS at"
        " FROM (SELECT json_extract(value, '$[0]') AS guild_id, json_extract(value, '$[1]') AS voter_id,"
        " json_extract(value, '$[2]') AS author_id FROM json_each(?)) AS k"
        " JOIN serial_voting_flags AS f"
        " ON f.guild_id = k.guild_id AND f.voter_id = k.voter_id AND f.author_id = k.author_id"
        " GROUP BY f.guild_id, f.voter_id, f.author_id)",
        json.dumps(list(set(keys))),
    )
    return {(guild_id, voter_id, author_id): _dt(at_us) for guild_id, voter_id, author_id, at_us in found}  # type: ignore[misc,arg-type]


def upvote_times_by_pair(
    conn: SyncConn, since: dict[tuple[int, int, int], datetime]
) -> dict[tuple[int, int, int], list[datetime]]:
    """(guild, voter, author) -> `upvote_times_between` after each key's `since`."""
    document = json.dumps([(*key, to_us(moment)) for key, moment in since.items()])
    if is_postgres(conn):
        sql = (
            f"SELECT {_pg_group_array('k.guild_id, k.voter_id, k.author_id, ' + _pg_at_us('v.updated_at'))}"
            f" FROM {_pg_keys('guild_id', 'voter_id', 'author_id', 'since/us')} AS k"
            " JOIN ideas AS i ON i.guild_id = k.guild_id AND i.author_id = k.author_id"
            " JOIN votes AS v ON v.idea_id = i.id AND v.voter_id = k.voter_id"
            " WHERE v.value = 1 AND v.updated_at > k.since"
        )
    else:
        sql = (
            f"SELECT json_group_array(json_array(k.guild_id, k.voter_id, k.author_id, {_at_us('v.updated_at')}))"
            " FROM (SELECT json_extract(value, '$[0]') AS guild_id, json_extract(value, '$[1]') AS voter_id,"
            " json_extract(value, '$[2]') AS author_id, json_extract(value, '$[3]') / 1000000.0 AS since"
            " FROM json_each(?)) AS k"
            " JOIN ideas AS i ON i.guild_id = k.guild_id AND i.author_id = k.author_id"
            " JOIN votes AS v ON v.idea_id = i.id AND v.voter_id = k.voter_id"
            " WHERE v.value = 1 AND v.updated_at > k.since"
        )
    found = _one_document(conn, sql, document)
    times: dict[tuple[int, int, int], list[datetime]] = {key: [] for key in since}
    for guild_id, voter_id, author_id, at_us in found:
        times[(guild_id, voter_id, author_id)].append(_dt(at_us))  # type: ignore[index,arg-type]
    return times


def ideas_posted_by_author(
    conn: SyncConn, since: dict[tuple[int, int], datetime]
) -> dict[tuple[int, int], list[datetime]]:
    """(guild, author) -> when each idea `ideas_posted_since` counts was created, after `since`."""
    if is_postgres(conn):
        found = _one_document(
            conn,
            f"SELECT {_pg_group_array('k.guild_id, k.author_id, ' + _pg_at_us('i.created_at'))}"
            f" FROM {_pg_keys('guild_id', 'author_id', 'since/us')} AS k"
            " JOIN ideas AS i ON i.guild_id = k.guild_id AND i.author_id = k.author_id AND i.created_at > k.since"
            " WHERE i.message_id IS NOT NULL AND i.status != 'withdrawn'",
            json.dumps([(*key, to_us(moment)) for key, moment in since.items()]),
        )
        created_pg: dict[tuple[int, int], list[datetime]] = {key: [] for key in since}
        for guild_id, author_id, at_us in found:
            created_pg[(guild_id, author_id)].append(_dt(at_us))  # type: ignore[index,arg-type]
        return created_pg
    found = _one_document(
        conn,
        f"SELECT json_group_array(json_array(k.guild_id, k.author_id, {_at_us('i.created_at')}))"
        " FROM (SELECT json_extract(value, '$[0]') AS guild_id, json_extract(value, '$[1]') AS author_id,"
        " json_extract(value, '$[2]') / 1000000.0 AS since FROM json_each(?)) AS k"
        " JOIN ideas AS i ON i.guild_id = k.guild_id AND i.author_id = k.author_id AND i.created_at > k.since"
        " WHERE i.message_id IS NOT NULL AND i.status != 'withdrawn'",
        json.dumps([(*key, to_us(moment)) for key, moment in since.items()]),
    )
    created: dict[tuple[int, int], list[datetime]] = {key: [] for key in since}
    for guild_id, author_id, at_us in found:
        created[(guild_id, author_id)].append(_dt(at_us))  # type: ignore[index,arg-type]
    return created


class NewLedgerRow(NamedTuple):
    guild_id: int
    user_id: int
    delta: int
    reason: str
    source: str
    at: datetime
    idea_id: int | None = None
    voter_id: int | None = None


def append_rows(conn: SyncConn, rows: list[NewLedgerRow]) -> None:
    """Append rows to the ledger in their order (ids ascending), as `append` would one by one."""
    if not rows:
        return
    if is_postgres(conn):  # the columns as arrays, unnested in order
        conn.execute(
            "INSERT INTO reputation_events (guild_id, user_id, delta, reason, idea_id, source, voter_id, at)"
            " SELECT g, u, d, r, i, s, v, a FROM unnest(?::bigint[], ?::bigint[], ?::int[], ?::text[], ?::bigint[],"
            " ?::text[], ?::bigint[], ?::float8[]) WITH ORDINALITY AS t(g, u, d, r, i, s, v, a, n) ORDER BY n",
            (
                [row.guild_id for row in rows],
                [row.user_id for row in rows],
                [row.delta for row in rows],
                [row.reason for row in rows],
                [row.idea_id for row in rows],
                [row.source for row in rows],
                [row.voter_id for row in rows],
                [to_ts(row.at) for row in rows],
            ),
        )
        return
    conn.execute(
        "INSERT INTO reputation_events (guild_id, user_id, delta, reason, idea_id, source, voter_id, at)"
        " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),"
        " json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'),"
        " json_extract(value, '$[6]'), json_extract(value, '$[7]') / 1000000.0 FROM json_each(?) ORDER BY key",
        (
            json.dumps(
                [
                    (
                        row.guild_id,
                        row.user_id,
                        row.delta,
                        row.reason,
                        row.idea_id,
                        row.source,
                        row.voter_id,
                        to_us(row.at),
                    )
                    for row in rows
                ],
                ensure_ascii=False,
            ),
        ),
    )


class SerialFlag(NamedTuple):
    guild_id: int
    voter_id: int
    author_id: int
    votes: int
    at: datetime


def flag_serial_votings(conn: SyncConn, flags: list[SerialFlag]) -> None:
    if not flags:
        return
    if is_postgres(conn):
        conn.execute(
            "INSERT INTO serial_voting_flags (guild_id, voter_id, author_id, votes, at)"
            " SELECT g, v, a, n, t FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::int[], ?::float8[])"
            " WITH ORDINALITY AS f(g, v, a, n, t, k) ORDER BY k",
            (
                [flag.guild_id for flag in flags],
                [flag.voter_id for flag in flags],
                [flag.author_id for flag in flags],
                [flag.votes for flag in flags],
                [to_ts(flag.at) for flag in flags],
            ),
        )
        return
    conn.execute(
        "INSERT INTO serial_voting_flags (guild_id, voter_id, author_id, votes, at)"
        " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),"
        " json_extract(value, '$[3]'), json_extract(value, '$[4]') / 1000000.0 FROM json_each(?) ORDER BY key",
        (json.dumps([(*flag[:4], to_us(flag.at)) for flag in flags]),),
    )


def outstanding_votes_between(
    conn: SyncConn, guild_id: int, voter_id: int, author_id: int, since: datetime
) -> list[tuple[int, int]]:
    """(idea, points still credited) of a voter's credits to an author written since `since`.
    Asked inside a batch's transaction only when serial voting is found, so one at a time."""
    rows = conn.execute(
        "SELECT idea_id, SUM(delta) FROM reputation_events WHERE guild_id = ? AND voter_id = ? AND user_id = ?"
        " AND idea_id IN (SELECT idea_id FROM reputation_events WHERE guild_id = ? AND voter_id = ?"
        " AND user_id = ? AND delta > 0 AND at > ?)"
        " GROUP BY idea_id HAVING SUM(delta) != 0 ORDER BY idea_id",
        (guild_id, voter_id, author_id, guild_id, voter_id, author_id, to_ts(since)),
    ).fetchall()
    return [(idea_id, int(points)) for idea_id, points in rows]


# --- vote effects owed (written by the vote writer: bot/votes/storage.py) --------------------------


def take_vote_effects(conn: SyncConn, document: str) -> None:
    """The credit of these events is being written: their queued row goes in the same transaction."""
    conn.execute("DELETE FROM vote_effects WHERE id = (SELECT MIN(id) FROM vote_effects WHERE events = ?)", (document,))


def pending_vote_effects(conn: SyncConn) -> list[tuple[int, str]]:
    """(row id, events document) of every batch still owed its credit, in commit order."""
    return [(row[0], row[1]) for row in conn.execute("SELECT id, events FROM vote_effects ORDER BY id")]


def drop_vote_effects(conn: SyncConn, row_id: int) -> None:
    conn.execute("DELETE FROM vote_effects WHERE id = ?", (row_id,))
