"""SQLite serves one process: `ideabot run` refuses, with a line that says to use PostgreSQL,
a strict subset of the shards and a second process on the same file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.shards import ShardPlan
from bot.storage.single_process import SingleProcessOnly, check_shard_range, sqlite_owner
from discord_emulator import DiscordEmulator

ROOT = Path(__file__).resolve().parents[2]


def run_ideabot(emu: DiscordEmulator, database: Path, timeout: float = 20, **env: str) -> subprocess.Popen[str]:
    values = {
        **os.environ,
        "IDEABOT_TOKEN": "anything",
        "IDEABOT_DATABASE": str(database),
        "IDEABOT_DISCORD_API_URL": emu.api_url,
        "IDEABOT_DISCORD_GATEWAY_URL": emu.gateway_url,
        "IDEABOT_CONFIG": str(ROOT / "config" / "ideabot.toml"),
        "IDEABOT_LOG_LEVEL": "WARNING",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=ROOT,
        env=values,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_a_strict_subset_of_shards_on_sqlite_is_refused(emulator: DiscordEmulator, tmp_path: Path) -> None:
    database = tmp_path / "ideabot.sqlite3"
    proc = run_ideabot(emulator, database, IDEABOT_SHARD_COUNT="2", IDEABOT_SHARD_IDS="1")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ideabot: cannot start: IDEABOT_SHARD_IDS:")
    assert "shards 1 of 2" in err and "PostgreSQL" in err and "postgresql://" in err
    assert not database.exists(), "nothing was written"
    assert emulator.gateway.stats.connections == 0


async def test_a_second_process_on_the_same_sqlite_file_is_refused(emulator: DiscordEmulator, tmp_path: Path) -> None:
    emulator.create_guild("Ideas Lab")
    database = tmp_path / "ideabot.sqlite3"
    first = run_ideabot(emulator, database)
    try:
        await emulator.wait_for(lambda: emulator.gateway.connected, timeout=30)
        second = run_ideabot(emulator, database)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert f"IDEABOT_DATABASE: {database} is already in use by process {first.pid}" in err
        assert "PostgreSQL" in err
        assert first.poll() is None, "the first process keeps serving"
    finally:
        first.terminate()
        first.communicate(timeout=15)
    assert first.returncode == 0
    # The lock goes with its process: a new one starts.
    third = run_ideabot(emulator, database)
    try:
        identifies = emulator.gateway.stats.identifies
        await emulator.wait_for(lambda: emulator.gateway.stats.identifies > identifies, timeout=30)
    finally:
        third.terminate()
        third.communicate(timeout=15)
    assert third.returncode == 0


def test_every_shard_in_one_process_is_fine_on_sqlite(tmp_path: Path) -> None:
    check_shard_range(str(tmp_path / "a.sqlite3"), ShardPlan.of(4, "0-3"))
    check_shard_range(str(tmp_path / "a.sqlite3"), ShardPlan.of(None, None))
    check_shard_range("postgresql://ideabot@/ideabot?host=/tmp", ShardPlan.of(4, "2"))
    with pytest.raises(SingleProcessOnly, match="PostgreSQL"):
        check_shard_range(str(tmp_path / "a.sqlite3"), ShardPlan.of(4, "0-2"))


def test_the_lock_is_released_when_its_holder_lets_go(tmp_path: Path) -> None:
    database = str(tmp_path / "ideabot.sqlite3")
    with sqlite_owner(database):
        # Another process cannot take it while this one holds it.
        code = (
            "import sys; from bot.storage.single_process import sqlite_owner, SingleProcessOnly\n"
            "try:\n    sqlite_owner(sys.argv[1]).__enter__()\nexcept SingleProcessOnly:\n    sys.exit(3)\n"
        )
        assert subprocess.run([sys.executable, "-c", code, database], cwd=ROOT).returncode == 3
    with sqlite_owner(database):
        pass
