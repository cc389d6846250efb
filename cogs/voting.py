"""Reaction votes arrive as raw gateway events (cards are rarely in the message cache)."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.client import IdeaBot
from bot.votes.service import ReactionEvent


class Voting(commands.Cog):
    """Turns raw reaction events into vote events for the writer. Registered as the bot's
    reaction sink rather than as listeners: it runs inside the gateway dispatch, with no task
    per reaction (see IdeaBot.dispatch)."""

    def __init__(self, bot: IdeaBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.reaction_sink = self.take_reaction

    async def cog_unload(self) -> None:
        if self.bot.reaction_sink == self.take_reaction:
            self.bot.reaction_sink = None

    def take_reaction(self, payload: discord.RawReactionActionEvent, added: bool) -> None:
        if payload.guild_id is None:
            return
        member = payload.member
        joined_at = member.joined_at if member is not None else None
        self.bot.votes.accept(ReactionEvent(payload.message_id, payload.user_id, str(payload.emoji), added, joined_at))


async def setup(bot: IdeaBot) -> None:
    await bot.add_cog(Voting(bot))
