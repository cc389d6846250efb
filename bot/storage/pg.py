"""The PostgreSQL side of the one query layer: an asyncpg connection (or the pool) behind the
small interface the feature storage modules use on aiosqlite, so a portable statement is
written once for both backends.

- `?` and `:name` placeholders become `$n` (outside quotes and comments), translated once per
  statement text and cached; asyncpg caches the prepared statement.
- `await conn.execute(sql, params)` and `async with conn.execute(sql, params) as cursor` both
  work; the cursor has `fetchone`, `fetchall`, `async for`, `rowcount` (from the command tag, or
  the rows a RETURNING statement gave) and `lastrowid` (always None: write `RETURNING id`).
- Rows are asyncpg Records: indexable by position and by name, like aiosqlite.Row.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg

Params = Sequence[Any] | Mapping[str, Any]
# A connection, one lent by the pool, or the pool itself (each statement on a free connection).
PgRaw: TypeAlias = "asyncpg.Connection | asyncpg.pool.PoolConnectionProxy[Any] | asyncpg.Pool"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIRST_WORD = re.compile(r"\s*(\w+)")
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def mask_url(url: str) -> str:
    """The URL with its password replaced, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """SQLite placeholders to PostgreSQL's: `?` in order, or `:name` (returned in order of their
    numbers, repeated names sharing one). Quotes, identifiers in double quotes, comments and
    `::` casts are left alone. Returns (sql, names or None for positional)."""
    out: list[str] = []
    names: list[str] = []
    positional = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote inside
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif ch == "?":
            positional += 1
            out.append(f"${positional}")
            i += 1
        elif ch == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif ch == ":" and (match := _NAME.match(sql, i + 1)):
            name = match.group(0)
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            i = match.end()
        else:
            out.append(ch)
            i += 1
    if positional and names:
        raise ValueError("a statement uses either ? or :name placeholders, not both")
    return "".join(out), (tuple(names) if names else None)


def _arguments(names: tuple[str, ...] | None, params: Params | None) -> Sequence[Any]:
    if params is None:
        return ()
    if names is None:
        if isinstance(params, Mapping):
            raise TypeError("named parameters given to a statement with ? placeholders")
        return params
    if not isinstance(params, Mapping):
        raise TypeError("a statement with :name placeholders needs a mapping")
    return [params[name] for name in names]


def _returns_rows(sql: str) -> bool:
    match = _FIRST_WORD.match(sql)
    word = match.group(1).upper() if match else ""
    if word in ("INSERT", "UPDATE", "DELETE"):
        return bool(_RETURNING.search(sql))
    return True


class PgCursor:
    """The rows of one statement, already fetched."""

    def __init__(self, rows: list[asyncpg.Record], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.lastrowid: int | None = None

    async def fetchone(self) -> asyncpg.Record | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[asyncpg.Record]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def __aiter__(self) -> AsyncIterator[asyncpg.Record]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[asyncpg.Record]:
        while (row := await self.fetchone()) is not None:
            yield row

    async def close(self) -> None:
        return None


class PgResult:
    """What `PgConnection.execute` returns: awaitable, or used with `async with`."""

    def __init__(self, coro: Any) -> None:
        self._coro = coro

    def __await__(self) -> Generator[Any, None, PgCursor]:
        cursor: PgCursor = yield from self._coro.__await__()
        return cursor

    async def __aenter__(self) -> PgCursor:
        cursor: PgCursor = await self._coro
        return cursor

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgConnection:
    """The query interface over an asyncpg connection (inside a transaction) or over the pool
    (each statement on its own, autocommitted)."""

    dialect = "postgresql"

    def __init__(self, target: PgRaw) -> None:
        self.raw = target

    def execute(self, sql: str, params: Params | None = None) -> PgResult:
        return PgResult(self._run(sql, params))

    async def _run(self, sql: str, params: Params | None) -> PgCursor:
        text, names = translate(sql)
        args = _arguments(names, params)
        if _returns_rows(text):
            rows = await self.raw.fetch(text, *args)
            return PgCursor(rows, len(rows))
        status = await self.raw.execute(text, *args)
        return PgCursor([], _count_of(status))

    async def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        text, names = translate(sql)
        await self.raw.executemany(text, [_arguments(names, params) for params in seq])

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """A statement already written for PostgreSQL ($n placeholders), its rows."""
        rows: list[asyncpg.Record] = await self.raw.fetch(sql, *args)
        return rows


def _count_of(status: str) -> int:
    """Rows touched, from a command tag such as "UPDATE 3" or "INSERT 0 1"."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class PgSyncCursor:
    def __init__(self, cursor: PgCursor) -> None:
        self._cursor = cursor
        self.rowcount = cursor.rowcount
        self.lastrowid: int | None = None

    def fetchone(self) -> Any:
        rows = self._cursor._rows
        if self._cursor._next >= len(rows):
            return None
        self._cursor._next += 1
        return rows[self._cursor._next - 1]

    def fetchall(self) -> list[Any]:
        rest = self._cursor._rows[self._cursor._next :]
        self._cursor._next = len(self._cursor._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgSyncConnection:
    """The blocking face of a PostgreSQL transaction, for the work SQLite runs on its
    connection's thread (Database.transaction_in_thread): called from a worker thread, each
    statement runs on the event loop (asyncpg is async) while the thread waits. The Python
    between statements stays off the event loop, as on SQLite."""

    dialect = "postgresql"

    def __init__(self, target: PgRaw, loop: asyncio.AbstractEventLoop) -> None:
        self._conn = PgConnection(target)
        self._loop = loop

    def execute(self, sql: str, params: Params | None = None) -> PgSyncCursor:
        future = asyncio.run_coroutine_threadsafe(self._conn._run(sql, params), self._loop)
        return PgSyncCursor(future.result())

    def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        asyncio.run_coroutine_threadsafe(self._conn.executemany(sql, list(seq)), self._loop).result()
