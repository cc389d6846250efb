"""Delivery to the firm's tools: wires the digest mailer and the webhooks to the event bus and
runs the webhook queue. The commands live in their groups: `/digest email` (cogs/digest.py)
and `/ideamod webhook` (cogs/moderation.py); both call the services through the helpers here."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import discord
from discord.ext import commands

from bot.client import IdeaBot
from bot.delivery.email import DigestMailer
from bot.delivery.webhooks import WebhookService
from bot.domain.digest import Digest, IsoWeek
from bot.render import NO_MENTIONS
from bot.services.digest import DigestService
from bot.services.errors import UserFacingError

log = logging.getLogger(__name__)

MAIL_RETRY_SECONDS = 3600.0


def mailer_of(bot: discord.Client) -> DigestMailer:
    mailer = getattr(bot, "mailer", None)
    if not isinstance(mailer, DigestMailer):
        raise UserFacingError("Digest emails are not available right now.")
    return mailer


def webhooks_of(bot: discord.Client) -> WebhookService:
    service = getattr(bot, "webhooks", None)
    if not isinstance(service, WebhookService):
        raise UserFacingError("Webhooks are not available right now.")
    return service


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
        self._catch_up = asyncio.create_task(self._mail_missed(), name="digest-email-catch-up")

    async def _mail_missed(self) -> None:
        while True:
            try:
                await self.mailer.catch_up(self._rebuild)
            except Exception:
                log.exception("mailing missed digests failed; trying again in an hour")
            finally:
                self.mails_caught_up.set()
            await asyncio.sleep(MAIL_RETRY_SECONDS)

    async def _rebuild(self, guild_id: int, week: str) -> Digest:
        digests = getattr(self.bot, "digests", None)
        if not isinstance(digests, DigestService):
            raise RuntimeError("the digest cog is not loaded")
        return await digests.build(guild_id, IsoWeek.parse(week))

    async def cog_unload(self) -> None:
        self._catch_up.cancel()
        await asyncio.gather(self._catch_up, return_exceptions=True)
        await self.webhooks.stop()
        await self.mailer.wait_sent()


async def setup(bot: IdeaBot) -> None:
    async def report(guild_id: int, text: str) -> None:
        actor = bot.user.id if bot.user is not None else 0
        await bot.modlog.record(guild_id, actor, "Delivery to the firm failed", text)

    settings = bot.settings
    mailer = DigestMailer(
        bot.db,
        bot.events,
        bot.clock,
        report,
        smtp_url=settings.smtp_url.get_secret_value() if settings.smtp_url is not None else None,
        sender=settings.smtp_from,
        timeout=settings.smtp_timeout_seconds,
    )
    webhooks = WebhookService(
        bot.db,
        bot.events,
        bot.clock,
        bot.ideas.get_by_id,
        report,
        allow_private=settings.webhook_allow_private,
        timeout=settings.webhook_timeout_seconds,
        disable_after=timedelta(hours=settings.webhook_disable_after_hours),
    )
    bot.mailer = mailer  # type: ignore[attr-defined]
    bot.webhooks = webhooks  # type: ignore[attr-defined]
    await bot.add_cog(Delivery(bot, mailer, webhooks))
