"""Reaction votes arrive as raw gateway events (cards are rarely in the message cache)."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.client import IdeaBot


class Voting(commands.Cog):
    def __init__(self, bot: IdeaBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.bot.accept_reaction(payload, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        self.bot.accept_reaction(payload, added=False)


async def setup(bot: IdeaBot) -> None:
    await bot.add_cog(Voting(bot))
