"""The `community` fixture: the local Discord emulator, the real bot on a fresh database, a
controllable clock, and a guild set up with channels, a moderator and members.

Backends: tests that take `database_target` (directly, or through `community` or `database`)
run once per selected backend: `--backend sqlite --backend postgresql`, or
IDEABOT_TEST_BACKENDS=sqlite,postgresql; SQLite alone by default (a fresh machine has no
PostgreSQL). With PostgreSQL selected, a real cluster is started for the session and each test
gets a fresh database; if it cannot start, those tests fail."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import settings

from bot.pgcluster import PostgresCluster
from bot.storage import Database
from bot.testing import (
    Community,
    fast_limits,
    running_community,
)
from discord_emulator import DiscordEmulator

# No per-example deadline: on a shared 2-core machine an example's time is noise (speed is
# measured in bench/, never in tests).
settings.register_profile("ideabot", deadline=None)
settings.load_profile("ideabot")

MEMBER_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="storage backend(s) to run the database tests on (default: IDEABOT_TEST_BACKENDS or sqlite)",
    )


def selected_backends(config: pytest.Config) -> list[str]:
    chosen = config.getoption("--backend") or [
        name.strip() for name in os.environ.get("IDEABOT_TEST_BACKENDS", "sqlite").split(",") if name.strip()
    ]
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"unknown backend(s) {sorted(unknown)}: choose from {', '.join(BACKENDS)}")
    return list(dict.fromkeys(chosen))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgresql` (they compare the two backends) run only when it is selected."""
    if "postgresql" in selected_backends(config):
        return
    kept = [item for item in items if item.get_closest_marker("postgresql") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", selected_backends(metafunc.config))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A real PostgreSQL server for the session, with a migrated template database."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        # First asked for inside a test's event loop: the template is made on a loop of its own.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, cluster.create_template()).result()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def database_target(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Where this test's fresh database is: an SQLite path, or a PostgreSQL URL."""
    if backend == "sqlite":
        yield str(tmp_path / "ideabot.sqlite3")
        return
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    url = await cluster.new_database()
    yield url
    await cluster.drop_database(url)


@pytest.fixture
async def new_database_target(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """For tests that need several fresh databases of the backend: each call gives another."""
    made: list[str] = []

    async def make() -> str:
        if backend == "sqlite":
            made.append(str(tmp_path / f"extra{len(made)}.sqlite3"))
        else:
            made.append(await request.getfixturevalue("pg_cluster").new_database())
        return made[-1]

    yield make
    if backend == "postgresql":
        for url in made:
            await request.getfixturevalue("pg_cluster").drop_database(url)


@pytest.fixture
async def database(database_target: str) -> AsyncIterator[Database]:
    db = await Database.open(database_target)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    emu = DiscordEmulator(limits=fast_limits())
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()
    assert emu.spec_violations == [], "requests that break Discord's OpenAPI spec"


@pytest.fixture
async def community(emulator: DiscordEmulator, tmp_path: Path, database_target: str) -> AsyncIterator[Community]:
    async with running_community(emulator, tmp_path, MEMBER_NAMES, database=database_target) as c:
        yield c
