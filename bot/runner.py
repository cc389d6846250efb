"""Start the bot for real: open the database, point discord.py at the configured servers, run."""

from __future__ import annotations

from bot.client import IdeaBot, point_discord_at
from bot.db import Database
from bot.settings import Settings


async def run_bot(settings: Settings) -> None:
    assert settings.token is not None
    point_discord_at(settings)
    db = await Database.open(settings.database)
    try:
        async with IdeaBot(settings, db) as bot:
            await bot.start(settings.token.get_secret_value())
    finally:
        await db.close()
