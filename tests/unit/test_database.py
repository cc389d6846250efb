from datetime import UTC, datetime
from pathlib import Path

from bot.db import Database, migration_scripts
from bot.db import ideas as idea_queries
from bot.db import votes as vote_queries
from bot.domain.ideas import IdeaDraft

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


async def test_numbers_per_guild_and_tallies_follow_votes() -> None:
    db = await Database.open(":memory:")
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


async def test_failed_transaction_writes_nothing() -> None:
    db = await Database.open(":memory:")
    try:
        async with db.transaction() as conn:
            await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("Half written", "details here"), NOW)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with db.conn.execute("SELECT COUNT(*) FROM ideas") as cursor:
        assert (await cursor.fetchone())[0] == 0
    await db.close()


async def test_search_treats_like_wildcards_literally() -> None:
    db = await Database.open(":memory:")
    async with db.transaction() as conn:
        idea = await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("100% uptime", "make it so please"), NOW)
        await idea_queries.insert_idea(conn, 1, 10, IdeaDraft("Something else", "another thing"), NOW)
        await idea_queries.attach_card(conn, idea.id, channel_id=1, message_id=99, thread_id=None)
    found = await idea_queries.search_ideas(db.conn, 1, "100%")
    assert [i.title for i in found] == ["100% uptime"]
    assert await idea_queries.search_ideas(db.conn, 1, "_") == []  # a literal underscore, not "any character"
    assert await idea_queries.search_ideas(db.conn, 1, "'; DROP TABLE ideas; --") == []
    await db.close()
