"""`ideabot db copy`: a whole database from one backend to the other (SQLite to PostgreSQL to move
up, and back), into an empty database at the same schema, verified by row counts and per-guild
tallies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.storage import Conn, Database, is_postgres

# Every table, parents before children (foreign keys are checked as rows go in).
TABLES = (
    "guild_settings",
    "challenges",
    "ideas",
    "votes",
    "status_history",
    "idea_coauthors",
    "blocked_members",
    "audit_log",
    "reputation_events",
    "reputation_rules",
    "reward_roles",
    "role_awards",
    "serial_voting_flags",
    "digest_settings",
    "digests",
    "idea_embeddings",
    "held_drafts",
    "programme_settings",
    "challenge_winners",
    "threshold_crossings",
    "consents",
    "digest_email_addresses",
    "digest_mailings",
    "webhooks",
    "webhook_deliveries",
    "vote_effects",
    "notice_recipients",
    "thanks_owed",
    "merge_effects",
    "member_names",
    "role_names",
    "member_locales",
    "digest_syntheses",
)
# Tables of one backend's own machinery, not data: SQLite's search index, PostgreSQL's schema version.
_OWN_TABLES = ("idea_search", "sqlite_", "schema_version")
CHUNK = 2_000
# Tables whose id is text, not an identity column.
TEXT_KEYED = ("held_drafts",)


class CopyError(RuntimeError):
    pass


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    guilds: int = 0


async def describe(db: Database) -> dict[str, list[str]]:
    """Table -> column names, for the data tables (both backends must agree on them)."""
    if db.dialect == "postgresql":
        sql = (
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " ORDER BY table_name, ordinal_position"
        )
        async with db.conn.execute(sql) as cursor:
            rows = [(str(r[0]), str(r[1])) for r in await cursor.fetchall()]
    else:
        async with db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") as cursor:
            names = [str(r[0]) for r in await cursor.fetchall()]
        rows = []
        for name in names:
            async with db.conn.execute(f"SELECT name FROM pragma_table_info('{name}') ORDER BY cid") as cursor:
                rows += [(name, str(r[0])) for r in await cursor.fetchall()]
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        if not table.startswith(_OWN_TABLES):
            tables.setdefault(table, []).append(column)
    return tables


async def _count(conn: Conn, table: str) -> int:
    async with conn.execute(f"SELECT COUNT(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def tallies(conn: Conn) -> dict[int, tuple[int, int, int, int]]:
    """guild -> (ideas, stored upvotes, stored downvotes, vote rows)."""
    found: dict[int, tuple[int, int, int, int]] = {}
    async with conn.execute(
        "SELECT i.guild_id, COUNT(*), COALESCE(SUM(i.upvotes), 0), COALESCE(SUM(i.downvotes), 0),"
        " COALESCE(SUM((SELECT COUNT(*) FROM votes v WHERE v.idea_id = i.id)), 0) FROM ideas i GROUP BY i.guild_id"
    ) as cursor:
        for row in await cursor.fetchall():
            found[int(row[0])] = (int(row[1]), int(row[2]), int(row[3]), int(row[4]))
    return found


async def copy_database(
    source: Database, target: Database, progress: Callable[[str, int, int], None] = lambda table, done, total: None
) -> CopyReport:
    """Copy every row of `source` into the empty `target`, then check both agree."""
    source_tables, target_tables = await describe(source), await describe(target)
    if source_tables != target_tables:
        differ = sorted(
            t for t in source_tables.keys() | target_tables.keys() if source_tables.get(t) != target_tables.get(t)
        )
        raise CopyError(f"the two schemas differ (tables {differ}); upgrade both first")
    missing = set(source_tables) - set(TABLES)
    if missing:
        raise CopyError(f"tables this copy does not know: {sorted(missing)}")
    for table in TABLES:
        if await _count(target.conn, table):
            raise CopyError(f"the target is not empty ({table} has rows); copy into a new database")
    report = CopyReport()
    async with target.transaction() as out:
        for table in TABLES:
            columns = source_tables[table]
            async with source.conn.execute(f"SELECT {', '.join(columns)} FROM {table}") as cursor:
                rows = [tuple(row) for row in await cursor.fetchall()]
            if table == "ideas":  # an idea may be merged into a later one: link them after all are in
                merged_at = columns.index("merged_into")
                links = [(row[merged_at], row[0]) for row in rows if row[merged_at] is not None]
                rows = [(*row[:merged_at], None, *row[merged_at + 1 :]) for row in rows]
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            for start in range(0, len(rows), CHUNK):
                await out.executemany(sql, [_value_row(row) for row in rows[start : start + CHUNK]])
                progress(table, min(start + CHUNK, len(rows)), len(rows))
            if not rows:
                progress(table, 0, 0)
            if table == "ideas" and links:
                await out.executemany("UPDATE ideas SET merged_into = ? WHERE id = ?", links)
            if is_postgres(out) and "id" in columns and table not in TEXT_KEYED:
                # Identity columns continue after the copied ids.
                await out.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false)"
                    f" FROM {table}"
                )
            report.rows[table] = len(rows)
    await _verify(source, target, report)
    return report


def _value_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # SQLite hands BLOBs back as bytes, PostgreSQL's bytea too; memoryviews (if any) as bytes.
    return tuple(bytes(value) if isinstance(value, memoryview) else value for value in row)


async def _verify(source: Database, target: Database, report: CopyReport) -> None:
    for table in TABLES:
        copied = await _count(target.conn, table)
        if copied != report.rows[table]:
            raise CopyError(f"{table}: {report.rows[table]} rows read but {copied} in the target")
    before, after = await tallies(source.conn), await tallies(target.conn)
    if before != after:
        wrong = sorted(guild for guild in before.keys() | after.keys() if before.get(guild) != after.get(guild))
        raise CopyError(f"per-guild tallies differ after the copy for guilds {wrong}")
    report.guilds = len(after)
