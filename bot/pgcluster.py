"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a temporary folder,
pg_ctl start on a Unix socket there (no TCP port), and a fresh database per test copied from a
migrated template (CREATE DATABASE ... TEMPLATE takes milliseconds).

PostgreSQL refuses to run as root: as root the server runs as the `postgres` user."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

TEMPLATE = "ideabot_template"


class ClusterError(RuntimeError):
    pass


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
            return str(candidate)
        raise ClusterError(f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql)")
    return found


class PostgresCluster:
    def __init__(self, folder: Path | None = None, *, crash_safe: bool = False) -> None:
        # Tests need no durability (fsync off); `crash_safe` keeps fsync and full-page writes and
        # only defers the commit flush, like SQLite's WAL with synchronous=NORMAL (benchmarks).
        self.crash_safe = crash_safe
        self.folder = folder or Path(tempfile.mkdtemp(prefix="ideabot-pg-"))
        self.data = self.folder / "data"
        self._names = itertools.count(1)
        self._user: dict[str, Any] = {}
        self.started = False

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://ideabot@/{database}?host={self.folder}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(args, capture_output=True, text=True, check=False, **self._user)  # noqa: S603
        if result.returncode != 0:
            log = (self.folder / "log").read_text(errors="replace") if (self.folder / "log").exists() else ""
            raise ClusterError(f"{' '.join(args[:2])} failed: {result.stderr.strip()} {log[-2000:]}")

    def start(self) -> None:
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterError("running as root needs a `postgres` user for the server") from None
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
            self._user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self._run(_tool("initdb"), "-D", str(self.data), "-A", "trust", "-U", "ideabot", "-E", "UTF8",
                  "--locale=C", "--no-sync")  # fmt: skip
        options = f"-k {self.folder} -c listen_addresses='' -c synchronous_commit=off -c max_connections=200"
        if not self.crash_safe:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(_tool("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")
        self.started = True

    def stop(self) -> None:
        if self.started:
            self._run(_tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)

    async def create_template(self) -> None:
        """A database at the newest schema that every test's database is copied from."""
        from bot.storage import Database

        await self.execute(f"CREATE DATABASE {TEMPLATE}")
        db = await Database.open(self.url(TEMPLATE))
        await db.close()

    async def new_database(self, prefix: str = "t") -> str:
        name = f"{prefix}{next(self._names)}_{os.getpid()}"
        await self.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    async def empty_database(self, prefix: str = "e") -> str:
        name = f"{prefix}{next(self._names)}_{os.getpid()}"
        await self.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    async def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        await self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    async def execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
