"""The one wiring place: builds the bot and every feature service, with typed attributes.

Building is cheap and has no effects: no handler is subscribed, no task started. A feature is
turned on by its cog's `setup()` (event subscriptions, submission gates, dynamic items, jobs,
start-up repairs), so a bot loaded with only some extensions (the benchmarks' core) pays for
nothing else. Cogs reach the services as `bot.services.<name>`.

The Discord-side ports (digest publisher, stage announcer, reputation outlet, delivery
reports) need the client, so the build has two steps: the bot, then the services given it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.client import EXTENSIONS, IdeaBot
from bot.db import Database
from bot.delivery.email import DigestMailer
from bot.delivery.webhooks import WebhookService
from bot.llm.client import LLMClient
from bot.services.digest import DigestService
from bot.services.duplicates import DuplicateService
from bot.services.events import Clock, system_clock
from bot.services.programmes import ProgrammeService
from bot.services.reputation import ReputationService
from bot.settings import Settings


@dataclass
class Services:
    """The feature services beside the core ones the bot itself holds (`bot.ideas`, `bot.votes`)."""

    llm: LLMClient | None
    reputation: ReputationService
    programmes: ProgrammeService
    digests: DigestService
    duplicates: DuplicateService
    mailer: DigestMailer
    webhooks: WebhookService

    async def aclose(self) -> None:
        """Releases the HTTP clients; safe to call after the cogs released them already."""
        await self.webhooks.stop()
        if self.llm is not None:
            await self.llm.aclose()


def build_services(bot: IdeaBot) -> Services:
    # Imported here: the ports live beside their cogs, and the cogs import bot.client.
    from cogs.digest import DiscordDigestPublisher
    from cogs.programmes import DiscordAnnouncer
    from cogs.reputation import DiscordReputationOutlet

    settings, db, clock, events = bot.settings, bot.db, bot.clock, bot.events

    async def report(guild_id: int, text: str) -> None:
        actor = bot.user.id if bot.user is not None else 0
        await bot.modlog.record(guild_id, actor, "Delivery to the firm failed", text)

    llm = LLMClient.from_settings(settings)
    reputation = ReputationService(db, DiscordReputationOutlet(bot), clock)
    return Services(
        llm=llm,
        reputation=reputation,
        programmes=ProgrammeService(
            db, bot.ideas, bot.board, events, clock, announcer=DiscordAnnouncer(bot), reputation=reputation
        ),
        digests=DigestService(db, clock, llm, DiscordDigestPublisher(bot), events=events),
        duplicates=DuplicateService(db, bot.board, events, clock, llm),
        mailer=DigestMailer(
            db,
            events,
            clock,
            report,
            smtp_url=settings.smtp_url.get_secret_value() if settings.smtp_url is not None else None,
            sender=settings.smtp_from,
            timeout=settings.smtp_timeout_seconds,
        ),
        webhooks=WebhookService(
            db,
            events,
            clock,
            bot.ideas.get_by_id,
            report,
            allow_private=settings.webhook_allow_private,
            timeout=settings.webhook_timeout_seconds,
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
        ),
    )


def build_bot(
    settings: Settings,
    db: Database,
    *,
    clock: Clock = system_clock,
    extensions: Sequence[str] = EXTENSIONS,
    **options: Any,
) -> IdeaBot:
    """The bot with its core and feature services; `extensions` decides which features run."""
    bot = IdeaBot(settings, db, clock=clock, extensions=extensions, **options)
    bot.services = build_services(bot)
    return bot
