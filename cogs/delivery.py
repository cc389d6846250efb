"""Delivery to the firm's tools: wires the digest mailer and the webhooks to the event bus and
runs the webhook queue. The commands live in their groups: `/digest email` (cogs/digest.py)
and `/ideamod webhook` (cogs/moderation.py); both call `bot.services`."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from bot.client import IdeaBot
from bot.delivery.email import DigestMailer
from bot.delivery.webhooks import WebhookService
from bot.digest.rules import Digest, IsoWeek
from bot.edge.embeds import NO_MENTIONS

log = logging.getLogger(__name__)

MAIL_RETRY_SECONDS = 3600.0
MAIL_JOB = "delivery:mail-missed-digests"


def mailer_of(bot: IdeaBot) -> DigestMailer:
    """The digest mailer, for the /digest email commands."""
    return bot.services.mailer


async def reply(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(text[:2000], ephemeral=True, allowed_mentions=NO_MENTIONS)


class Delivery(commands.Cog):
    def __init__(self, bot: IdeaBot, mailer: DigestMailer, webhooks: WebhookService) -> None:
        self.bot = bot
        self.mailer = mailer
        self.webhooks = webhooks
        self.mails_caught_up = asyncio.Event()

    async def cog_load(self) -> None:
        self.mailer.subscribe()
        self.webhooks.subscribe()
        self.webhooks.start()  # a restart resumes the deliveries left in the database
        self.bot.jobs.every(MAIL_JOB, MAIL_RETRY_SECONDS, self._mail_missed, now=True)

    async def _mail_missed(self) -> None:
        try:
            await self.mailer.catch_up(self._rebuild)
        finally:
            self.mails_caught_up.set()

    async def _rebuild(self, guild_id: int, week: str) -> Digest:
        return await self.bot.services.digests.build(guild_id, IsoWeek.parse(week))

    async def cog_unload(self) -> None:
        self.bot.jobs.remove(MAIL_JOB)
        await self.webhooks.stop()
        await self.mailer.wait_sent()


async def setup(bot: IdeaBot) -> None:
    await bot.add_cog(Delivery(bot, bot.services.mailer, bot.services.webhooks))
