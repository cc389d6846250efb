"""Reaction votes arrive as gateway events, read from their payload (bot/edge/reactions.py)."""

from __future__ import annotations

from discord.ext import commands

from bot.client import IdeaBot
from bot.edge.reactions import GatewayReaction
from bot.votes.service import ReactionEvent


class Voting(commands.Cog):
    """Turns reaction events into vote events for the writer. Registered as the bot's reaction
    sink rather than as listeners: it runs inside the gateway's parse, with no task per reaction
    (see IdeaBot._read_reactions_from_the_payload)."""

    def __init__(self, bot: IdeaBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.reaction_sink = self.take_reaction

    async def cog_unload(self) -> None:
        if self.bot.reaction_sink == self.take_reaction:
            self.bot.reaction_sink = None

    def take_reaction(self, reaction: GatewayReaction) -> None:
        if reaction.guild_id is None:
            return
        event = ReactionEvent(reaction.message_id, reaction.user_id, reaction.emoji, reaction.added, reaction.joined_at)
        self.bot.votes.accept(event)


async def setup(bot: IdeaBot) -> None:
    await bot.add_cog(Voting(bot))
