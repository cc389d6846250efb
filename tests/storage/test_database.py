import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ideas import storage as idea_queries
from bot.ideas.rules import IdeaDraft
from bot.search import storage as search_queries
from bot.search.rules import SearchFilters, search_terms
from bot.storage import Database, check_sqlite, migration_scripts
from bot.storage.rows import to_ts, to_us
from bot.votes import storage as vote_queries

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


async def test_migrations_apply_once_and_set_user_version(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    db = await Database.open(path)
    version = await db.schema_version()
    assert version == len(migration_scripts())
    await db.close()
    db = await Database.open(path)  # a second start applies nothing
    assert await db.schema_version() == version
    async with db.conn.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"
    assert await db.integrity_ok()
    await db.close()


async def test_numbers_per_guild_and_tallies_follow_votes(database_target: str) -> None:
    db = await Database.open(database_target)
    async with db.transaction() as conn:
        first = await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("First idea", "details here"), NOW)
        second = await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("Second idea", "details here"), NOW)
        other = await idea_queries.insert_idea(conn, 2, 10, IdeaDraft("Other guild", "details here"), NOW)
    assert (first.number, second.number, other.number) == (1, 2, 1)
    async with db.transaction() as conn:
        await vote_queries.put_vote(conn, first.id, 20, None, 1, None, NOW)
        await vote_queries.put_vote(conn, first.id, 21, None, 1, None, NOW)
        await vote_queries.put_vote(conn, first.id, 21, 1, -1, None, NOW)
    idea = await idea_queries.get_idea(db.conn, first.id)
    assert idea is not None and (idea.upvotes, idea.downvotes) == (1, 1)
    await db.close()


async def test_failed_transaction_writes_nothing(database_target: str) -> None:
    db = await Database.open(database_target)
    try:
        async with db.transaction() as conn:
            await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("Half written", "details here"), NOW)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with db.conn.execute("SELECT COUNT(*) FROM ideas") as cursor:
        assert (await cursor.fetchone())[0] == 0
    await db.close()


async def test_search_reads_only_words_so_syntax_and_wildcards_are_plain_text(database_target: str) -> None:
    db = await Database.open(database_target)
    async with db.transaction() as conn:
        idea = await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("100% uptime", "make it so please"), NOW)
        await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("Something else", "another thing"), NOW)
        await idea_queries.attach_card(conn, idea.id, channel_id=1, message_id=99, thread_id=None)

    async def titles(query: str) -> list[str]:
        page = await search_queries.search_ideas(db.conn, 1, search_terms(query), SearchFilters(), 1, 10)
        return [hit.idea.title for hit in page.hits]

    assert await titles("100%") == ["100% uptime"]
    assert await titles('uptime" OR "kittens') == []  # quotes and OR are not operators: both words are needed
    assert await titles("'; DROP TABLE ideas; --") == []
    assert await titles("upt*") == ["100% uptime"]  # every term is a prefix anyway
    await db.close()


def test_an_sqlite_too_old_for_the_vote_writer_is_refused_with_the_reason() -> None:
    check_sqlite((3, 45, 1))  # fine
    with pytest.raises(RuntimeError, match=r"SQLite 3\.31\.1 is too old: ideabot needs 3\.33\.0 or newer"):
        check_sqlite((3, 31, 1))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_microseconds_divided_in_sqlite_give_exactly_the_stored_timestamp(moment: datetime) -> None:
    # The vote writer sends voter_joined_at as whole microseconds in JSON and divides in SQL;
    # the result must be the very float every other path stores (datetime.timestamp()).
    conn = sqlite3.connect(":memory:")
    (value,) = conn.execute("SELECT json_extract(?, '$[0]') / 1000000.0", (json.dumps([to_us(moment)]),)).fetchone()
    conn.close()
    assert value == to_ts(moment)


async def test_a_batch_keeps_the_voters_join_time_exactly(database_target: str, tmp_path: Path) -> None:
    db = await Database.open(database_target)
    try:
        await _write_a_batch_and_read_it_back(db)
    finally:
        await db.close()


async def _write_a_batch_and_read_it_back(db: Database) -> None:
    joined = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    async with db.transaction() as conn:
        idea = await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("First idea", "details here"), NOW)
        await idea_queries.attach_card(conn, idea.id, channel_id=5, message_id=500, thread_id=None)
    writes = [vote_queries.VoteWrite(idea.id, 20, None, 1, joined), vote_queries.VoteWrite(idea.id, 21, None, -1, None)]
    prepared = vote_queries.prepare_writes(writes, NOW)
    await db.transaction_in_thread(lambda conn: vote_queries.execute_writes(conn, prepared))
    async with db.conn.execute("SELECT voter_id, value, voter_joined_at FROM votes ORDER BY voter_id") as cursor:
        assert [tuple(row) for row in await cursor.fetchall()] == [(20, 1, joined.timestamp()), (21, -1, None)]
    reads = await db.transaction_in_thread(
        lambda conn: vote_queries.read_batch(conn, [(500, 20), (500, 22), (501, 20)])
    )
    assert vote_queries.parse_cards(reads.cards) == {500: vote_queries.VotingCard(idea.id, 1, 10, False)}
    assert vote_queries.parse_votes(reads.votes) == {(idea.id, 20): (1, 0)}
    idea_after = await idea_queries.get_idea(db.conn, idea.id)
    assert idea_after is not None and (idea_after.upvotes, idea_after.downvotes) == (1, 1)


async def test_a_read_then_write_transaction_that_fails_midway_writes_nothing(database_target: str) -> None:
    db = await Database.open(database_target)
    try:
        async with db.transaction() as conn:
            idea = await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("First idea", "details here"), NOW)

        def read(conn: sqlite3.Connection) -> int:
            conn.execute("UPDATE ideas SET upvotes = 7 WHERE id = ?", (idea.id,))
            return 7

        def decide(found: int) -> tuple[int, int]:
            raise ValueError("the decision failed")

        with pytest.raises(ValueError):
            await db.transaction_read_then_write(read, decide, lambda conn, writes: None)

        def fail_to_write(conn: sqlite3.Connection, writes: int) -> None:
            conn.execute("UPDATE ideas SET downvotes = ? WHERE id = ?", (writes, idea.id))
            raise sqlite3.IntegrityError("the write failed")

        with pytest.raises(sqlite3.IntegrityError):
            await db.transaction_read_then_write(read, lambda found: (found, found), fail_to_write)
        decided = await db.transaction_read_then_write(
            lambda conn: 2,
            lambda found: ("done", found),
            lambda conn, n: conn.execute("UPDATE ideas SET downvotes = ?", (n,)),
        )
        assert decided == "done"
        stored = await idea_queries.get_idea(db.conn, idea.id)
        assert stored is not None and (stored.upvotes, stored.downvotes) == (0, 2)
    finally:
        await db.close()


# The examples share the test's database (each reads back only its own idea).
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
async def test_a_recount_reads_the_stored_join_time_exactly(database_target: str, joined: datetime) -> None:
    db = await Database.open(database_target)
    try:
        async with db.transaction() as conn:
            idea = await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("First idea", "details here"), NOW)
            await vote_queries.put_vote(conn, idea.id, 20, None, 1, joined, NOW)
            await vote_queries.put_vote(conn, idea.id, 21, None, -1, None, NOW)
        document = await db.transaction_in_thread(lambda conn: vote_queries.read_card_votes(conn, idea.id, NOW))
        assert vote_queries.parse_card_votes(document) == {
            20: vote_queries.StoredVote(1, joined, changed_after_snapshot=False, reaction_backed=True, reactions=1),
            21: vote_queries.StoredVote(-1, None, changed_after_snapshot=False, reaction_backed=True, reactions=2),
        }
    finally:
        await db.close()


async def test_a_read_then_write_transaction_cancelled_midway_leaves_the_database_usable(database_target: str) -> None:
    db = await Database.open(database_target)
    try:
        async with db.transaction() as conn:
            idea = await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("First idea", "details here"), NOW)
        reading = asyncio.Event()
        loop = asyncio.get_running_loop()

        def slow_read(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE ideas SET upvotes = 5 WHERE id = ?", (idea.id,))
            loop.call_soon_threadsafe(reading.set)
            time.sleep(0.2)  # on the database thread: the caller is cancelled meanwhile

        task = asyncio.create_task(
            db.transaction_read_then_write(slow_read, lambda found: (found, found), lambda conn, writes: None)
        )
        await reading.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with db.transaction() as conn:  # no transaction left open
            await conn.execute("UPDATE ideas SET downvotes = 1 WHERE id = ?", (idea.id,))
        stored = await idea_queries.get_idea(db.conn, idea.id)
        assert stored is not None and (stored.upvotes, stored.downvotes) == (0, 1)
    finally:
        await db.close()


async def test_drafts_held_before_the_upgrade_survive_it_in_the_one_drafts_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for version, _, sql in migration_scripts():
        if version > 14:
            break
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
    conn.execute(
        "INSERT INTO pending_submissions (id, guild_id, author_id, title, details, category, options, created_at)"
        " VALUES ('abcdef123', 1, 2, 'Dark mode', 'A dark theme', 'UX', '{\"anonymous\": true}', 100.0)"
    )
    conn.execute(
        "INSERT INTO drafts_awaiting_terms (id, guild_id, user_id, terms_version, title, details, options, created_at)"
        " VALUES (7, 1, 3, 'v2', 'CSV export', 'Reports as CSV', '{\"category\": \"Data\"}', 200.0)"
    )
    conn.commit()
    conn.close()

    db = await Database.open(str(path))
    try:
        duplicate = await idea_queries.held_draft(db.conn, "abcdef123", "duplicates")
        terms = await idea_queries.held_draft(db.conn, "7", "terms")  # the button of an old draft still names it
        assert duplicate is not None and (duplicate.author_id, duplicate.category) == (2, "UX")
        assert duplicate.options == {"anonymous": True}
        assert terms is not None and (terms.author_id, terms.terms_version, terms.category) == (3, "v2", "Data")
        assert await idea_queries.held_draft(db.conn, "7", "duplicates") is None  # a gate sees its own drafts only
    finally:
        await db.close()
