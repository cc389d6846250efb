"""The token never appears in any log line, even at DEBUG."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.storage import Database
from bot.testing import FakeClock, build_community, emulator_settings, running_bot, set_up_guild
from discord_emulator import DiscordEmulator

SECRET = "MTIz.secret-token-that-must-not-leak"


async def test_token_is_not_logged(
    emulator: DiscordEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, database_target: str
) -> None:
    caplog.set_level(logging.DEBUG)
    path = database_target
    db = await Database.open(path)
    settings = emulator_settings(emulator, path, token=SECRET, log_level="DEBUG")
    c = await build_community(emulator, db, FakeClock(), settings, ["alice"])
    async with running_bot(settings, db, c.clock, token=SECRET) as bot:
        c.bot = bot
        await set_up_guild(c)
        await c.submit(c.alice, title="Leak check", details="Nothing secret in the logs")
    await db.close()
    assert caplog.records, "DEBUG logging produced records"
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
