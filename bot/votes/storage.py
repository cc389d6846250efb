"""Votes, one row per (idea, voter); the idea's tallies move in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import orjson

from bot.events.types import VoteChanged
from bot.ideas.rules import Status
from bot.storage import Conn, SyncConn, is_postgres
from bot.storage.rows import from_ts, from_us, maybe_dt, maybe_ts, to_ts, to_us


def _dumps(value: object) -> str:
    """The batch documents as JSON text (orjson: the vote path writes one per batch, and the
    standard library's encoder was a tenth of the event loop's time in a burst)."""
    return orjson.dumps(value).decode()


async def get_vote(conn: Conn, idea_id: int, voter_id: int) -> int | None:
    async with conn.execute(
        "SELECT value FROM votes WHERE idea_id = ? AND voter_id = ?", (idea_id, voter_id)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def votes_on(conn: Conn, idea_id: int) -> dict[int, tuple[int, datetime | None]]:
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
    conn: Conn,
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
        # A vote without a reaction leaves the member's held reactions as they are (none for a
        # new row); a reaction-backed one holds just its reaction.
        held = (1 if new == 1 else 2) if reaction_backed else 0
        await conn.execute(
            "INSERT INTO votes (idea_id, voter_id, value, voter_joined_at, created_at, updated_at, reaction_backed,"
            " reactions) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(idea_id, voter_id) DO UPDATE SET"
            " value = excluded.value, voter_joined_at = COALESCE(excluded.voter_joined_at, votes.voter_joined_at),"
            " updated_at = excluded.updated_at, reaction_backed = excluded.reaction_backed,"
            " reactions = CASE WHEN excluded.reaction_backed != 0 THEN excluded.reactions ELSE votes.reactions END",
            (idea_id, voter_id, new, maybe_ts(voter_joined_at), ts, ts, int(reaction_backed), held),
        )
    ups, downs = _tally_delta(old, new)
    await conn.execute(
        "UPDATE ideas SET upvotes = upvotes + ?, downvotes = downvotes + ?, last_activity_at = ? WHERE id = ?",
        (ups, downs, ts, idea_id),
    )


async def supporters(conn: Conn, idea_id: int, limit: int) -> list[int]:
    async with conn.execute(
        "SELECT voter_id FROM votes WHERE idea_id = ? AND value = 1 ORDER BY created_at LIMIT ?", (idea_id, limit)
    ) as cursor:
        return [row[0] for row in await cursor.fetchall()]


# --- batched ingest: a fixed handful of statements per batch, whatever its size ---------------
#
# Python's sqlite3 releases the GIL around every step of a statement (every row of an
# executemany, every row fetched). While the event loop is busy with a burst of gateway frames,
# each re-acquire waits out the interpreter's switch interval (5 ms), so a statement per row
# costs ~5 ms per row under load: 2,000 upserts took 0.7 s instead of 9 ms (measured). Rows
# therefore go in and come out as one JSON document per statement (json_each /
# json_group_array): one step each, the per-row work in SQLite's C code.


class VotingCard(NamedTuple):
    """What the vote writer needs to know about the idea behind a card."""

    idea_id: int
    guild_id: int
    author_id: int
    voting_closed: bool


class BatchReads(NamedTuple):
    """What a batch of reaction events reads, as the JSON text SQLite produced (parsed by the
    caller, on the event loop: see Database.transaction_read_then_write)."""

    cards: str
    votes: str


# PostgreSQL: both documents from one statement, the pairs as two arrays.
_PG_READ_BATCH = (
    "SELECT (SELECT COALESCE(json_agg(json_build_array(message_id, id, guild_id, author_id, status,"
    " archived_at IS NOT NULL OR expired_at IS NOT NULL)), '[]')"
    " FROM ideas WHERE message_id = ANY(:messages::bigint[])),"
    " (SELECT COALESCE(json_agg(json_build_array(v.idea_id, v.voter_id, v.value, v.reactions)), '[]')"
    " FROM unnest(:messages::bigint[], :members::bigint[]) AS k(message_id, voter_id)"
    " JOIN ideas AS i ON i.message_id = k.message_id"
    " JOIN votes AS v ON v.idea_id = i.id AND v.voter_id = k.voter_id)"
)


def _pg_read_params(pairs: list[tuple[int, int]]) -> dict[str, list[int]]:
    return {"messages": [m for m, _ in pairs], "members": [u for _, u in pairs]}


async def read_batch_pg(conn: Conn, reactions: Iterable[tuple[int, int]]) -> BatchReads:
    """read_batch on PostgreSQL, on the event loop: asyncpg is async, so a worker thread would
    only add two hand-overs per statement."""
    async with conn.execute(_PG_READ_BATCH, _pg_read_params(list(set(reactions)))) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return BatchReads(row[0], row[1])


def read_batch(conn: SyncConn, reactions: Iterable[tuple[int, int]]) -> BatchReads:
    """The cards behind the batch's (message id, member id) reactions, and the members'
    stored votes on them: two statements, two JSON documents."""
    pairs = list(set(reactions))
    if is_postgres(conn):
        cards, votes = conn.execute(_PG_READ_BATCH, _pg_read_params(pairs)).fetchone()
        return BatchReads(cards, votes)
    document = _dumps(pairs)
    (cards,) = conn.execute(
        "SELECT json_group_array(json_array(message_id, id, guild_id, author_id, status,"
        " archived_at IS NOT NULL OR expired_at IS NOT NULL))"
        " FROM ideas WHERE message_id IN (SELECT DISTINCT json_extract(value, '$[0]') FROM json_each(?))",
        (document,),
    ).fetchone()
    (votes,) = conn.execute(
        "SELECT json_group_array(json_array(v.idea_id, v.voter_id, v.value, v.reactions)) FROM json_each(?) AS k"
        " JOIN ideas AS i ON i.message_id = json_extract(k.value, '$[0]')"
        " JOIN votes AS v ON v.idea_id = i.id AND v.voter_id = json_extract(k.value, '$[1]')",
        (document,),
    ).fetchone()
    return BatchReads(cards, votes)


def parse_cards(document: str) -> dict[int, VotingCard]:
    """message id -> the idea whose card it is."""
    return {
        message_id: VotingCard(idea_id, guild_id, author_id, bool(shelved) or Status(status).closes_voting)
        for message_id, idea_id, guild_id, author_id, status, shelved in orjson.loads(document)
    }


def parse_votes(document: str) -> dict[tuple[int, int], tuple[int, int | None]]:
    """(idea id, voter id) -> (value, voting reactions held as bits or None when not known), for
    the pairs that have a vote."""
    return {(idea_id, voter_id): (value, held) for idea_id, voter_id, value, held in orjson.loads(document)}


@dataclass(slots=True)
class VoteWrite:
    """The net effect of a batch on one (idea, voter): from `before` to `after`.

    `recreated`: the vote was withdrawn and cast again within the batch, so its row is new
    (created now), as if each event had been written on its own. `reactions`: the voting
    reactions the member holds after the batch (bits, see bot/votes/rules.py)."""

    idea_id: int
    voter_id: int
    before: int | None
    after: int | None
    voter_joined_at: datetime | None
    recreated: bool = False
    reactions: int = 0


# A batch's net writes as a table `w`, unpacked from the JSON document :rows.
_BATCH_WRITES = (
    "WITH w(idea_id, voter_id, before, after, joined_us, recreated, reactions) AS (SELECT json_extract(value, '$[0]'),"
    " json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'),"
    " json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]') FROM json_each(:rows))"
)


# The same on PostgreSQL (the document as jsonb, its rows typed).
_PG_BATCH_WRITES = (
    "WITH w AS (SELECT (e->>0)::bigint AS idea_id, (e->>1)::bigint AS voter_id, (e->>2)::int AS before,"
    " (e->>3)::int AS after, (e->>4)::bigint AS joined_us, (e->>5)::boolean AS recreated, (e->>6)::int AS reactions"
    " FROM jsonb_array_elements(:rows::jsonb) AS e)"
)


class PreparedWrites(NamedTuple):
    """A batch's net writes as the documents its statements read (see execute_writes)."""

    rows: str  # [[idea, voter, before, after, joined_at in microseconds, recreated, reactions], ...]
    tallies: str  # [[idea, upvotes moved, downvotes moved], ...]
    deletes: bool
    ts: float


def prepare_writes(writes: list[VoteWrite], now: datetime) -> PreparedWrites:
    """Pure: the documents for execute_writes.

    voter_joined_at travels as integer microseconds: divided by 10^6 in SQLite it is the same
    double as datetime.timestamp() (both one correctly rounded division); a float through JSON
    text need not be. Tallies are summed here (a GROUP BY over the document in SQLite cost
    four times as much)."""
    tallies: dict[int, list[int]] = {}
    for w in writes:
        ups, downs = _tally_delta(w.before, w.after)
        tally = tallies.setdefault(w.idea_id, [0, 0])
        tally[0] += ups
        tally[1] += downs
    rows = [
        (
            w.idea_id,
            w.voter_id,
            w.before,
            w.after,
            None if w.voter_joined_at is None else to_us(w.voter_joined_at),
            w.recreated,
            w.reactions,
        )
        for w in writes
    ]
    return PreparedWrites(
        _dumps(rows),
        _dumps([(idea_id, ups, downs) for idea_id, (ups, downs) in tallies.items()]),
        any(w.before is not None and (w.after is None or w.recreated) for w in writes),
        to_ts(now),
    )


def execute_writes(conn: SyncConn, prepared: PreparedWrites) -> None:
    """Apply a batch's net vote changes and move each idea's tallies once: three statements.

    Every touched pair gets updated_at = now, even when it ends where it started (the recount
    relies on updated_at to leave alone the votes that changed after its snapshot)."""
    if is_postgres(conn):
        _execute_writes_pg(conn, prepared)
        return
    if prepared.deletes:  # rows that end without a vote, or withdrawn and cast again (a new row)
        conn.execute(
            f"{_BATCH_WRITES} DELETE FROM votes WHERE (idea_id, voter_id) IN"
            " (SELECT idea_id, voter_id FROM w WHERE before IS NOT NULL AND (after IS NULL OR recreated))",
            {"rows": prepared.rows},
        )
    conn.execute(
        f"{_BATCH_WRITES} INSERT INTO votes (idea_id, voter_id, value, voter_joined_at, created_at, updated_at,"
        " reactions) SELECT idea_id, voter_id, after, joined_us / 1000000.0, :ts, :ts, reactions FROM w"
        " WHERE after IS NOT NULL ON CONFLICT(idea_id, voter_id) DO UPDATE SET value = excluded.value,"
        " voter_joined_at = COALESCE(excluded.voter_joined_at, votes.voter_joined_at),"
        " updated_at = excluded.updated_at, reactions = excluded.reactions, reaction_backed = 1",
        {"rows": prepared.rows, "ts": prepared.ts},
    )
    conn.execute(
        "UPDATE ideas SET upvotes = upvotes + json_extract(t.value, '$[1]'),"
        " downvotes = downvotes + json_extract(t.value, '$[2]'), last_activity_at = ?"
        " FROM json_each(?) AS t WHERE ideas.id = json_extract(t.value, '$[0]')",
        (prepared.ts, prepared.tallies),
    )


_PG_DELETES = (
    f"{_PG_BATCH_WRITES} DELETE FROM votes AS v USING w WHERE v.idea_id = w.idea_id"
    " AND v.voter_id = w.voter_id AND w.before IS NOT NULL AND (w.after IS NULL OR w.recreated)"
)
# The upserts and the tallies in one statement (a data-modifying CTE).
_PG_UPSERTS_AND_TALLIES = (
    f"{_PG_BATCH_WRITES}, upserted AS (INSERT INTO votes (idea_id, voter_id, value, voter_joined_at, created_at,"
    " updated_at, reactions) SELECT idea_id, voter_id, after, joined_us::float8 / 1000000, :ts::float8,"
    " :ts::float8, reactions FROM w WHERE after IS NOT NULL ON CONFLICT(idea_id, voter_id) DO UPDATE SET"
    " value = excluded.value, voter_joined_at = COALESCE(excluded.voter_joined_at, votes.voter_joined_at),"
    " updated_at = excluded.updated_at, reactions = excluded.reactions, reaction_backed = 1 RETURNING 1)"
    " UPDATE ideas SET upvotes = upvotes + (t->>1)::int, downvotes = downvotes + (t->>2)::int,"
    " last_activity_at = :ts::float8 FROM jsonb_array_elements(:tallies::jsonb) AS t"
    " WHERE ideas.id = (t->>0)::bigint"
)


def _execute_writes_pg(conn: SyncConn, prepared: PreparedWrites) -> None:
    """execute_writes on PostgreSQL: the deletes, then the upserts and the tallies in one
    statement, over the batch as jsonb. The tallies move with `upvotes = upvotes + n`, so
    writers in other processes add up."""
    if prepared.deletes:
        conn.execute(_PG_DELETES, {"rows": prepared.rows})
    conn.execute(_PG_UPSERTS_AND_TALLIES, {"rows": prepared.rows, "ts": prepared.ts, "tallies": prepared.tallies})


async def execute_writes_pg(conn: Conn, prepared: PreparedWrites, effects: str | None) -> None:
    """execute_writes and queue_effects on PostgreSQL, on the event loop (see read_batch_pg)."""
    if prepared.deletes:
        await conn.execute(_PG_DELETES, {"rows": prepared.rows})
    await conn.execute(_PG_UPSERTS_AND_TALLIES, {"rows": prepared.rows, "ts": prepared.ts, "tallies": prepared.tallies})
    if effects is not None:
        await queue_effects_async(conn, effects)


# --- recount: one card's stored votes against its reactions -----------------------------------


class StoredVote(NamedTuple):
    value: int
    voter_joined_at: datetime | None
    changed_after_snapshot: bool
    reaction_backed: bool
    reactions: int | None  # voting reactions held as the bot last saw them (bits); None: not known


def read_card_votes(conn: SyncConn, idea_id: int, snapshot_at: datetime) -> str:
    """Every stored vote on the idea as one JSON document (see parse_card_votes). The join time
    is printed with 17 significant digits (SQLite's JSON gives 15), so it reads back exactly."""
    if is_postgres(conn):  # PostgreSQL prints a double in the fewest digits that read back exactly
        (found,) = conn.execute(
            "SELECT COALESCE(json_agg(json_build_array(voter_id, value, voter_joined_at, updated_at > ?::float8,"
            " reaction_backed, reactions)), '[]') FROM votes WHERE idea_id = ?",
            (to_ts(snapshot_at), idea_id),
        ).fetchone()
        return str(found)
    (found,) = conn.execute(
        "SELECT json_group_array(json_array(voter_id, value,"
        " CASE WHEN voter_joined_at IS NOT NULL THEN printf('%!.17g', voter_joined_at) END,"
        " updated_at > ?, reaction_backed, reactions)) FROM votes WHERE idea_id = ?",
        (to_ts(snapshot_at), idea_id),
    ).fetchone()
    return str(found)


def parse_card_votes(document: str) -> dict[int, StoredVote]:
    return {
        voter_id: StoredVote(
            value, None if joined_at is None else from_ts(float(joined_at)), bool(newer), bool(backed), held
        )
        for voter_id, value, joined_at, newer, backed, held in orjson.loads(document)
    }


def recount_tallies(conn: SyncConn, idea_id: int) -> None:
    """The idea's tallies counted again from its votes."""
    conn.execute(
        "UPDATE ideas SET upvotes = (SELECT COUNT(*) FROM votes WHERE idea_id = ideas.id AND value = 1),"
        " downvotes = (SELECT COUNT(*) FROM votes WHERE idea_id = ideas.id AND value = -1) WHERE id = ?",
        (idea_id,),
    )


# --- the effects of committed vote changes, until reputation has credited them ---------------
#
# A batch's VoteChanged events go into `vote_effects` in the batch's own transaction; the
# reputation credit deletes that row in its transaction (bot/reputation/storage.py), so a crash in
# between leaves the row for the start-up repair and nothing is credited twice.


def encode_changes(changes: Iterable[VoteChanged]) -> str:
    """Pure and deterministic: the same events always give the same text (the credit finds
    its row by it). Times as integer microseconds, which read back exactly."""
    micros: dict[datetime, int] = {}  # a batch shares a handful of moments

    def us(moment: datetime | None) -> int | None:
        if moment is None:
            return None
        found = micros.get(moment)
        if found is None:
            found = micros[moment] = to_us(moment)
        return found

    return _dumps(
        [
            (c.guild_id, c.idea_id, c.author_id, c.voter_id, c.old_value, c.new_value, us(c.voter_joined_at), us(c.at))
            for c in changes
        ]
    )


def decode_changes(document: str) -> list[VoteChanged]:
    return [
        VoteChanged(guild, idea, author, voter, old, new, None if joined is None else from_us(joined), from_us(at))
        for guild, idea, author, voter, old, new, joined, at in orjson.loads(document)
    ]


def queue_effects(conn: SyncConn, document: str) -> None:
    conn.execute("INSERT INTO vote_effects (events) VALUES (?)", (document,))


async def queue_effects_async(conn: Conn, document: str) -> None:
    await conn.execute("INSERT INTO vote_effects (events) VALUES (?)", (document,))
