"""Votes, one row per (idea, voter); the idea's tallies move in the same transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import aiosqlite

from bot.db.rows import IDEA_COLUMNS, idea_from_row, maybe_dt, maybe_ts, to_ts
from bot.domain.ideas import Idea

R = TypeVar("R")

# Row values per statement: far below SQLite's limit on bound parameters (32766).
_CHUNK = 2000


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
    *,
    reaction_backed: bool = True,
) -> None:
    """Move one voter from `old` to `new` (None: no vote) and the idea's tallies with it.
    `reaction_backed=False` for votes with no reaction behind them (merge, support button)."""
    if old == new:
        return
    ts = to_ts(now)
    if new is None:
        await conn.execute("DELETE FROM votes WHERE idea_id = ? AND voter_id = ?", (idea_id, voter_id))
    else:
        await conn.execute(
            "INSERT INTO votes (idea_id, voter_id, value, voter_joined_at, created_at, updated_at, reaction_backed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(idea_id, voter_id) DO UPDATE SET value = excluded.value,"
            " voter_joined_at = COALESCE(excluded.voter_joined_at, votes.voter_joined_at),"
            " updated_at = excluded.updated_at, reaction_backed = excluded.reaction_backed",
            (idea_id, voter_id, new, maybe_ts(voter_joined_at), ts, ts, int(reaction_backed)),
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


# --- batched ingest: a handful of statements per batch instead of three per event -----------


def ideas_by_message(conn: sqlite3.Connection, message_ids: Iterable[int]) -> dict[int, Idea]:
    """message id -> the idea whose card it is (co-authors are not loaded: voting needs none)."""
    found: dict[int, Idea] = {}
    ids = list(dict.fromkeys(message_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {IDEA_COLUMNS} FROM ideas WHERE message_id IN ({marks})", chunk):
            idea = idea_from_row(row)
            if idea.message_id is not None:
                found[idea.message_id] = idea
    return found


def votes_of(conn: sqlite3.Connection, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """(idea id, voter id) -> value, for the pairs that have a vote."""
    found: dict[tuple[int, int], int] = {}
    pairs = list(dict.fromkeys(keys))
    for start in range(0, len(pairs), _CHUNK):
        chunk = pairs[start : start + _CHUNK]
        values = ",".join("(?, ?)" for _ in chunk)
        params = [n for pair in chunk for n in pair]
        # A join on the VALUES list: one primary-key lookup per pair.
        rows = conn.execute(
            f"SELECT v.idea_id, v.voter_id, v.value FROM (VALUES {values}) AS k"
            " JOIN votes AS v ON v.idea_id = k.column1 AND v.voter_id = k.column2",
            params,
        )
        for row in rows:
            found[(row[0], row[1])] = int(row[2])
    return found


@dataclass(slots=True)
class VoteWrite:
    """The net effect of a batch on one (idea, voter): from `before` to `after`.

    `recreated`: the vote was withdrawn and cast again within the batch, so its row is new
    (created now), as if each event had been written on its own."""

    idea_id: int
    voter_id: int
    before: int | None
    after: int | None
    voter_joined_at: datetime | None
    recreated: bool = False


def write_votes(conn: sqlite3.Connection, writes: list[VoteWrite], now: datetime) -> None:
    """Apply a batch's net vote changes and move each idea's tallies once.

    Every touched pair gets updated_at = now, even when it ends where it started (the recount
    relies on updated_at to leave alone the votes that changed after its snapshot)."""
    if not writes:
        return
    ts = to_ts(now)
    deletes = [(w.idea_id, w.voter_id) for w in writes if w.before is not None and (w.after is None or w.recreated)]
    upserts = [
        (w.idea_id, w.voter_id, w.after, maybe_ts(w.voter_joined_at), ts, ts) for w in writes if w.after is not None
    ]
    if deletes:
        conn.executemany("DELETE FROM votes WHERE idea_id = ? AND voter_id = ?", deletes)
    if upserts:
        conn.executemany(
            "INSERT INTO votes (idea_id, voter_id, value, voter_joined_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(idea_id, voter_id) DO UPDATE SET value = excluded.value,"
            " voter_joined_at = COALESCE(excluded.voter_joined_at, votes.voter_joined_at),"
            " updated_at = excluded.updated_at, reaction_backed = 1",
            upserts,
        )
    tallies: dict[int, list[int]] = {}
    for w in writes:
        ups, downs = _tally_delta(w.before, w.after)
        tally = tallies.setdefault(w.idea_id, [0, 0])
        tally[0] += ups
        tally[1] += downs
    conn.executemany(
        "UPDATE ideas SET upvotes = upvotes + ?, downvotes = downvotes + ?, last_activity_at = ? WHERE id = ?",
        [(ups, downs, ts, idea_id) for idea_id, (ups, downs) in tallies.items()],
    )


BatchDecision = Callable[
    [dict[int, Idea], Callable[[Iterable[tuple[int, int]]], dict[tuple[int, int], int]]],
    tuple[list[VoteWrite], R],
]


def apply_reaction_batch(
    conn: sqlite3.Connection, message_ids: Iterable[int], decide: BatchDecision[R], now: datetime
) -> R:
    """One batch of reaction events, inside the caller's transaction (see
    Database.transaction_in_thread): load the cards' ideas, let `decide` read the stored votes
    it needs and return the writes, write them. Returns what `decide` returned beside them."""
    ideas = ideas_by_message(conn, message_ids)
    writes, result = decide(ideas, lambda keys: votes_of(conn, keys))
    write_votes(conn, writes, now)
    return result


async def unbacked_voters(conn: aiosqlite.Connection, idea_id: int) -> set[int]:
    async with conn.execute(
        "SELECT voter_id FROM votes WHERE idea_id = ? AND reaction_backed = 0", (idea_id,)
    ) as cursor:
        return {row[0] for row in await cursor.fetchall()}
