"""The two storage backends side by side: the same tables and columns, placeholders, secrets,
and `ideabot db copy` from SQLite to PostgreSQL and back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.ideas import storage as idea_queries
from bot.ideas.rules import IdeaDraft
from bot.pgcluster import PostgresCluster
from bot.reputation import storage as rep_queries
from bot.settings import Settings
from bot.storage import Database, migration_scripts
from bot.storage.copy import TABLES, CopyError, copy_database, describe, tallies
from bot.storage.pg import mask_url, translate
from bot.storage.seed import seed_community
from bot.votes import storage as vote_queries

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_placeholders_are_translated_outside_quotes_and_casts() -> None:
    assert translate("SELECT ? , '?', \"a?\" -- ?\n, ?") == ("SELECT $1 , '?', \"a?\" -- ?\n, $2", None)
    assert translate("SELECT :a, :b::jsonb, :a, 'x:y'") == ("SELECT $1, $2::jsonb, $1, 'x:y'", ("a", "b"))
    with pytest.raises(ValueError):
        translate("SELECT ?, :a")


def test_a_database_password_is_masked_like_the_token() -> None:
    url = "postgresql://bot:s3cret-pass%21@db.example:5432/ideabot"
    settings = Settings(database=url)
    assert "s3cret-pass%21" in settings.secret_values() and "s3cret-pass!" in settings.secret_values()
    assert "s3cret" not in settings.database_for_display and "db.example:5432" in settings.database_for_display
    assert mask_url("postgresql://bot@/x?host=/tmp") == "postgresql://bot@/x?host=/tmp"


@pytest.mark.postgresql
async def test_both_backends_have_the_same_tables_and_columns(tmp_path: Path, pg_cluster: PostgresCluster) -> None:
    sqlite = await Database.open(str(tmp_path / "a.sqlite3"))
    postgres = await Database.open(await pg_cluster.new_database())
    try:
        on_sqlite, on_postgres = await describe(sqlite), await describe(postgres)
        assert on_sqlite == on_postgres
        assert set(on_sqlite) == set(TABLES)
    finally:
        await sqlite.close()
        await postgres.close()


async def _community(db: Database) -> None:
    await seed_community(db, 42, 120, 6, NOW, seed=3)
    async with db.transaction() as conn:
        for n in range(30):  # a second guild
            idea = await idea_queries.insert_idea(conn, 43, 500 + n, IdeaDraft(f"Idea {n}", "details"), NOW)
            for voter in range(n % 4):
                await vote_queries.put_vote(conn, idea.id, 900 + voter, None, 1 if voter % 3 else -1, None, NOW)
        first = await idea_queries.get_idea_by_number(conn, 42, 1)
        second = await idea_queries.get_idea_by_number(conn, 42, 2)
        assert first is not None and second is not None
        # merged into a later idea: the copy links them after both are in
        await conn.execute("UPDATE ideas SET merged_into = ?, status = 'duplicate' WHERE id = ?", (second.id, first.id))
        await rep_queries.append(conn, 42, 7, 2, "Idea submitted", "submission", NOW, idea_id=first.id)
        await conn.execute(
            "INSERT INTO idea_embeddings (idea_id, model, text_hash, dims, vector, at) VALUES (?, ?, ?, ?, ?, ?)",
            (second.id, "m", "h", 2, b"\x00\x01\x02\x03\x04\x05\x06\x07", 1.5),
        )


@pytest.mark.postgresql
def test_db_copy_moves_a_community_to_postgresql_and_back(tmp_path: Path, pg_cluster: PostgresCluster) -> None:
    source = str(tmp_path / "source.sqlite3")

    async def prepare() -> dict[int, tuple[int, int, int, int]]:
        db = await Database.open(source)
        try:
            await _community(db)
            return await tallies(db.conn)
        finally:
            await db.close()

    expected = asyncio.run(prepare())
    url = asyncio.run(pg_cluster.empty_database())
    back = str(tmp_path / "back.sqlite3")

    runner = CliRunner()
    there = runner.invoke(main, ["db", "copy", "--from", source, "--to", url])
    assert there.exit_code == 0, there.output
    assert "guilds' tallies agree" in there.stdout and "ideas: 150 rows" in there.stderr
    again = runner.invoke(main, ["db", "copy", "--from", source, "--to", url])
    assert again.exit_code == 1 and "not empty" in again.stderr  # nothing is copied twice
    home = runner.invoke(main, ["db", "copy", "--from", url, "--to", back])
    assert home.exit_code == 0, home.output

    async def check(target: str) -> None:
        copied = await Database.open(target)
        try:
            assert await tallies(copied.conn) == expected
            async with copied.conn.execute("SELECT vector FROM idea_embeddings") as cursor:
                row = await cursor.fetchone()
                assert row is not None and bytes(row[0]) == b"\x00\x01\x02\x03\x04\x05\x06\x07"
            async with copied.transaction() as conn:  # new rows continue after the copied ids
                idea = await idea_queries.insert_idea(conn, 42, 9, IdeaDraft("After the move", "details"), NOW)
            assert idea.number == 121 and idea.id == 151
            merged = await idea_queries.get_idea_by_number(copied.conn, 42, 1)
            assert merged is not None and merged.merged_into is not None
        finally:
            await copied.close()

    for target in (url, back):
        asyncio.run(check(target))


@pytest.mark.postgresql
async def test_db_copy_refuses_a_target_with_rows(tmp_path: Path, pg_cluster: PostgresCluster) -> None:
    source = await Database.open(str(tmp_path / "a.sqlite3"))
    target = await Database.open(await pg_cluster.new_database())
    try:
        await _community(source)
        await _community(target)
        with pytest.raises(CopyError, match="not empty"):
            await copy_database(source, target)
    finally:
        await source.close()
        await target.close()


def test_an_unreachable_postgresql_is_one_clear_line_without_its_password(tmp_path: Path) -> None:
    env = {
        "IDEABOT_DATABASE": "postgresql://bot:hunter2-secret@/ideabot?host=/nonexistent-socket-dir",
        "IDEABOT_CONFIG": str(tmp_path / "none.toml"),
    }
    (tmp_path / "none.toml").write_text("")
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 2
    assert "IDEABOT_DATABASE: cannot connect to PostgreSQL" in result.stderr
    assert "hunter2" not in result.output


@pytest.mark.postgresql
def test_db_upgrade_on_postgresql(tmp_path: Path, pg_cluster: PostgresCluster) -> None:
    (tmp_path / "none.toml").write_text("")
    url = asyncio.run(pg_cluster.empty_database())
    env = {"IDEABOT_DATABASE": url, "IDEABOT_CONFIG": str(tmp_path / "none.toml")}
    for _ in range(2):  # the second run finds nothing to apply
        result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
        assert result.exit_code == 0, result.output
        latest = max(version for version, _, _ in migration_scripts("bot.storage.migrations_pg"))
        assert f"at schema version {latest}" in result.stdout
