"""The only package with SQL. `Database.open(target)` opens SQLite (a file path) or PostgreSQL
(a `postgresql://` URL), applies that backend's numbered migrations at start-up and hands out
transactions. Both backends' connections take the same statements (see `Conn` and
bot/storage/pg.py), so each feature keeps its queries in one module, with a dialect's own
statement beside the portable one where they must differ (`is_postgres(conn)`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import aiosqlite
import asyncpg

from bot.storage.pg import PgConnection, PgRaw, PgSyncConnection, is_postgres_url, mask_url

log = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")
D = TypeVar("D")
W = TypeVar("W")

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class DatabaseUnavailable(RuntimeError):
    """The database cannot be opened (no server, refused, bad credentials); the message names
    the database with its password masked."""


# What every feature storage function takes: an aiosqlite connection or the PostgreSQL one.
Conn: TypeAlias = aiosqlite.Connection | PgConnection
# Their rows: both indexable by position and by column name.
Row: TypeAlias = aiosqlite.Row | asyncpg.Record


# What the work run by Database.transaction_in_thread takes: SQLite's own connection on its
# thread, or PostgreSQL's blocking face (see PgSyncConnection).
SyncConn: TypeAlias = sqlite3.Connection | PgSyncConnection


def is_postgres(conn: Conn | SyncConn) -> bool:
    """For the few statements written per dialect."""
    return isinstance(conn, PgConnection | PgSyncConnection)


# Small spellings that differ, for statements otherwise portable.
def same_as(conn: Conn | SyncConn) -> str:
    """The null-safe equality operator: `a IS ?` on SQLite (3.33 lacks IS NOT DISTINCT FROM)."""
    return "IS NOT DISTINCT FROM" if is_postgres(conn) else "IS"


def least(conn: Conn | SyncConn) -> str:
    """The scalar minimum of its arguments (SQLite's two-argument MIN)."""
    return "LEAST" if is_postgres(conn) else "MIN"


def greatest(conn: Conn | SyncConn) -> str:
    return "GREATEST" if is_postgres(conn) else "MAX"


# UPDATE ... FROM (3.33) and the JSON functions: the vote writer moves a batch's rows as JSON.
OLDEST_SQLITE = (3, 33, 0)


def check_sqlite(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> None:
    """Refuse to start on an SQLite that cannot run our statements, with a clear reason."""
    if version < OLDEST_SQLITE:
        needed = ".".join(map(str, OLDEST_SQLITE))
        found = ".".join(map(str, version))
        raise RuntimeError(f"SQLite {found} is too old: ideabot needs {needed} or newer (Python's sqlite3 module)")
    try:
        sqlite3.connect(":memory:").execute("SELECT json_array(1)").close()
    except sqlite3.OperationalError:
        raise RuntimeError("this SQLite was built without its JSON functions, which ideabot needs") from None


def migration_scripts(package: str = "bot.storage.migrations") -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every bundled migration, in order."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return found


class Database:
    """A database of either backend: `conn` for reads (and single statements), `transaction()`
    for writes, which serialises this process's writers so a transaction never interleaves with
    another coroutine's statements."""

    dialect: str
    conn: Conn
    path: str  # for messages: the file, or the URL with its password masked

    @staticmethod
    async def open(target: str) -> Database:
        """SQLite for a file path (or ":memory:"), PostgreSQL for a `postgresql://` URL."""
        if is_postgres_url(target):
            return await PgDatabase.open(target)
        return await SqliteDatabase.open(target)

    async def close(self) -> None:
        raise NotImplementedError

    async def schema_version(self) -> int:
        raise NotImplementedError

    async def migrate(self) -> int:
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Conn]:
        raise NotImplementedError

    async def integrity_ok(self) -> bool:
        raise NotImplementedError

    async def transaction_in_thread(self, work: Callable[[SyncConn], T]) -> T:
        """Run blocking `work` as one transaction off the event loop (see the implementations)."""
        raise NotImplementedError

    async def transaction_read_then_write(
        self,
        read: Callable[[SyncConn], A],
        decide: Callable[[A], tuple[D, W]],
        write: Callable[[SyncConn, W], None],
    ) -> D:
        """One write transaction: blocking `read` off the loop, `decide` (pure Python) on the
        loop, then blocking `write` off the loop; returns what `decide` decided."""
        raise NotImplementedError


class SqliteDatabase(Database):
    """One aiosqlite connection (SQLite has one writer anyway)."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self.conn: aiosqlite.Connection = conn
        self.path = path
        self._write_lock = asyncio.Lock()

    @staticmethod
    async def open(target: str) -> SqliteDatabase:
        path = target
        check_sqlite()
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        db = SqliteDatabase(conn, path)
        try:
            await db.migrate()
        except BaseException:
            await conn.close()  # its worker thread would otherwise keep the process alive
            raise
        return db

    async def close(self) -> None:
        await self.conn.close()

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every migration newer than PRAGMA user_version, each in its own transaction."""
        current = await self.schema_version()
        for version, name, sql in migration_scripts():
            if version <= current:
                continue
            log.info("applying migration %s", name)
            async with self._write_lock:
                # executescript commits first; wrap the script so it is all-or-nothing.
                try:
                    await self.conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
                except Exception as exc:
                    if self.conn.in_transaction:
                        await self.conn.execute("ROLLBACK")
                    raise RuntimeError(f"migration {name} failed ({exc}); the database is unchanged") from None
            current = version
        return current

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def transaction_in_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` as one transaction on the connection's own thread, in a single round trip.

        For hot paths with several statements (a batch of votes): each `await` on aiosqlite
        waits for the event loop, which under a burst is busy with gateway frames, so one hop
        per batch instead of one per statement keeps the writer ahead of the stream. Uses
        aiosqlite's queue of work for its thread (pinned in uv.lock, covered by the vote tests)."""

        def in_thread(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        async with self._write_lock:
            result: T = await self.conn._execute(in_thread, self.conn._conn)
            return result

    async def transaction_read_then_write(
        self,
        read: Callable[[sqlite3.Connection], A],
        decide: Callable[[A], tuple[D, W]],
        write: Callable[[sqlite3.Connection, W], None],
    ) -> D:
        """One write transaction in two round trips to the connection's thread: BEGIN and
        `read` there, `decide` (pure Python) here on the event loop, then `write` and COMMIT
        there. Returns what `decide` decided beside the writes.

        For the hottest path (a batch of votes): the database thread should run SQL, which
        releases the GIL, and little Python, which holds it. Python on that thread competes with
        the event loop for the GIL, and every hand-over costs (see bench/sqlite_gil.py)."""

        def begin_and_read(conn: sqlite3.Connection) -> A:
            conn.execute("BEGIN IMMEDIATE")
            return read(conn)

        def write_and_commit(conn: sqlite3.Connection, writes: W) -> None:
            write(conn, writes)
            conn.execute("COMMIT")

        def rollback_if_open(conn: sqlite3.Connection) -> None:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

        async with self._write_lock:
            try:
                found: A = await self.conn._execute(begin_and_read, self.conn._conn)
                decided, writes = decide(found)
                await self.conn._execute(write_and_commit, self.conn._conn, writes)
            except BaseException:
                # Also on cancellation: the thread finishes what it was given, then rolls back.
                await asyncio.shield(self.conn._execute(rollback_if_open, self.conn._conn))
                raise
            return decided

    async def integrity_ok(self) -> bool:
        async with self.conn.execute("PRAGMA integrity_check") as cursor:
            row = await cursor.fetchone()
        return row is not None and row[0] == "ok"


class PgDatabase(Database):
    """An asyncpg pool. Writers of this process are serialised like SQLite's, which keeps the
    services' read-then-write transactions as they are; across processes each guild has one
    owner (its shard), and the statements that must hold across owners compare and set."""

    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self.pool = pool
        self.url = url
        self.path = mask_url(url)
        self.conn: PgConnection = PgConnection(pool)
        self._write_lock = asyncio.Lock()

    @staticmethod
    async def open(target: str, *, min_size: int = 1, max_size: int = 8) -> PgDatabase:
        try:
            pool = await asyncpg.create_pool(target, min_size=min_size, max_size=max_size)
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {mask_url(target)}: {exc}") from None
        db = PgDatabase(pool, target)
        try:
            await db.migrate()
        except BaseException:
            await pool.close()
            raise
        return db

    async def close(self) -> None:
        await self.pool.close()

    async def schema_version(self) -> int:
        async with self.pool.acquire() as conn:
            return await _pg_schema_version(conn)

    async def migrate(self) -> int:
        """Apply every PostgreSQL migration newer than schema_version, each in its own
        transaction, under an advisory lock so processes starting together migrate once."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(7210541)")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION)"
            )
            current = await _pg_schema_version(conn)
            for version, name, sql in migration_scripts("bot.storage.migrations_pg"):
                if version <= current:
                    continue
                log.info("applying PostgreSQL migration %s", name)
                try:
                    async with conn.transaction():  # a savepoint: all of it or none
                        await conn.execute(sql)
                        await conn.execute("INSERT INTO schema_version VALUES ($1, extract(epoch FROM now()))", version)
                except asyncpg.PostgresError as exc:
                    raise RuntimeError(f"migration {name} failed ({exc}); the database is unchanged") from None
                current = version
        return current

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        async with self._write_lock, self.pool.acquire() as conn, conn.transaction():
            yield PgConnection(conn)

    async def integrity_ok(self) -> bool:
        return await self.pool.fetchval("SELECT 1") == 1

    async def transaction_in_thread(self, work: Callable[[SyncConn], T]) -> T:
        """`work` on a worker thread against the transaction; its statements run on the loop."""
        async with self.transaction() as conn:
            sync = PgSyncConnection(conn.raw, asyncio.get_running_loop())
            return await _finish_in_thread(asyncio.to_thread(work, sync))

    async def transaction_read_then_write(
        self,
        read: Callable[[SyncConn], A],
        decide: Callable[[A], tuple[D, W]],
        write: Callable[[SyncConn, W], None],
    ) -> D:
        async with self.transaction() as conn:
            sync = PgSyncConnection(conn.raw, asyncio.get_running_loop())
            found = await _finish_in_thread(asyncio.to_thread(read, sync))
            decided, writes = decide(found)
            await _finish_in_thread(asyncio.to_thread(write, sync, writes))
            return decided


async def _finish_in_thread(work: Coroutine[Any, Any, T]) -> T:
    """Await work running on a thread; on cancellation, let the thread finish its statements
    before the transaction rolls back under it, then cancel."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise


async def _pg_schema_version(conn: PgRaw) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
