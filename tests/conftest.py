"""The `community` fixture: the local Discord emulator, the real bot on a fresh SQLite file, a
controllable clock, and a guild set up with channels, a moderator and members."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.testing import (
    Community,
    fast_limits,
    running_community,
)
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
    async with running_community(emulator, tmp_path, MEMBER_NAMES) as c:
        yield c
