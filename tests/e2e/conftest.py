"""The `community` fixture: the local Discord emulator, the real bot on a fresh SQLite file, a
controllable clock, and a guild set up with channels, a moderator and members."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db import Database
from bot.testing import Community, FakeClock, build_community, emulator_settings, fast_limits, running_bot, set_up_guild
from discord_emulator import DiscordEmulator

MEMBER_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


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
async def community(emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[Community]:
    db = await Database.open(str(tmp_path / "ideabot.sqlite3"))
    clock = FakeClock()
    settings = emulator_settings(emulator, str(tmp_path / "ideabot.sqlite3"))
    c = await build_community(emulator, db, clock, settings, MEMBER_NAMES)
    try:
        async with running_bot(settings, db, clock) as bot:
            c.bot = bot
            await set_up_guild(c)
            yield c
    finally:
        await db.close()
