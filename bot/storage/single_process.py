"""SQLite serves one process: refuse, at start-up, a set-up that would have several.

Two checks, both before the database is opened: a shard range that is a strict subset of the
shards (the other shards must run in another process, which needs a shared database server),
and an OS lock on a file next to the SQLite file, held for the life of the process (a second
`ideabot run` on the same file finds it taken). The lock is the kernel's: it is released when
the process ends, however it ends, so a killed bot never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bot.core.shards import ShardPlan

USE_POSTGRES = "Several processes need one PostgreSQL database: set IDEABOT_DATABASE to a postgresql:// URL."


class SingleProcessOnly(Exception):
    """The settings or another process would share an SQLite database; the message says what to do."""


def is_postgres(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


def lock_path(database: str) -> Path:
    return Path(f"{database}.lock")


def check_shard_range(database: str, shards: ShardPlan) -> None:
    """Refuse a strict subset of the shards on SQLite: the rest would need another process."""
    if is_postgres(database) or shards.holds_every_shard:
        return
    raise SingleProcessOnly(
        f"IDEABOT_SHARD_IDS: this process runs {shards.describe()}, so the other shards must run in"
        f" another process, but SQLite ({database}) serves one process only. {USE_POSTGRES}"
        " Or run every shard here (leave IDEABOT_SHARD_IDS unset)."
    )


@contextlib.contextmanager
def sqlite_owner(database: str) -> Iterator[None]:
    """Hold the SQLite file for this process; SingleProcessOnly when another process holds it."""
    if is_postgres(database) or database == ":memory:":
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one process is the operator's promise there
        yield
        return
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until the process lets go
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise SingleProcessOnly(
                f"IDEABOT_DATABASE: {database} is already in use by {holder} (lock file {path});"
                f" SQLite serves one process only. {USE_POSTGRES}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock


@contextlib.contextmanager
def single_process_database(database: str, shards: ShardPlan) -> Iterator[None]:
    """Both start-up checks; the SQLite lock is held inside the block."""
    check_shard_range(database, shards)
    with sqlite_owner(database):
        yield
