"""Placeholder: filled in by its feature work."""

from __future__ import annotations

from bot.client import IdeaBot


async def setup(bot: IdeaBot) -> None:
    return None
