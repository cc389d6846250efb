"""The one wiring place: builds the bot and every service, with typed attributes.

Building is cheap and has no effects: no handler is subscribed, no task started. A feature is
turned on by its cog's `setup()` (event subscriptions, submission gates, dynamic items, jobs,
start-up repairs), so a bot loaded with only some extensions (the benchmarks' core) pays for
nothing else. Cogs reach the services as `bot.services.<name>`.

The Discord-side ports (card board, digest publisher, stage announcer, reputation outlet,
delivery reports) need the client, so the bot calls `build_services` with itself once its
ports exist. The ports built with discord.py live beside their cogs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.client import EXTENSIONS, IdeaBot, ShardedIdeaBot
from bot.community.locales import MemberLocales
from bot.delivery.email import DigestMailer
from bot.delivery.webhooks import WebhookService
from bot.digest.service import DigestService
from bot.events.bus import Clock, system_clock
from bot.i18n import _, use
from bot.ideas.service import IdeaService
from bot.llm.client import LLMClient
from bot.notices.service import NoticeService
from bot.programmes.service import ProgrammeService
from bot.reputation.service import ReputationService
from bot.search.duplicates import DuplicateService
from bot.settings import Settings
from bot.storage import Database
from bot.votes.service import VoteService
from cogs.digest import DiscordDigestPublisher
from cogs.programmes import DiscordAnnouncer
from cogs.reputation import DiscordReputationOutlet


@dataclass
class Services:
    """Every use case of the bot. The core three serve every configuration; the others serve
    their feature once its cog turns it on."""

    ideas: IdeaService
    votes: VoteService
    notices: NoticeService
    llm: LLMClient | None
    reputation: ReputationService
    programmes: ProgrammeService
    digests: DigestService
    duplicates: DuplicateService
    mailer: DigestMailer
    webhooks: WebhookService
    locales: MemberLocales

    async def aclose(self) -> None:
        """Releases the HTTP clients; safe to call after the cogs released them already."""
        await self.webhooks.stop()
        await self.locales.flush()
        if self.llm is not None:
            await self.llm.aclose()


def build_services(bot: IdeaBot) -> Services:
    settings, db, clock, events = bot.settings, bot.db, bot.clock, bot.events

    async def report(guild_id: int, text: str) -> None:
        actor = bot.user.id if bot.user is not None else 0
        with use(await bot.public_language(guild_id)):
            action = _("Delivery to the firm failed")
        await bot.modlog.record(guild_id, actor, action, text)

    ideas = IdeaService(db, bot.board, events, clock)
    llm = LLMClient.from_settings(settings)
    if llm is not None:
        llm.observe = bot.metrics.observe_llm
    reputation = ReputationService(db, DiscordReputationOutlet(bot), clock)
    services = Services(
        ideas=ideas,
        votes=VoteService(db, bot.board, events, clock, settings.vote_batch_seconds),
        notices=NoticeService(db, clock),
        llm=llm,
        reputation=reputation,
        programmes=ProgrammeService(
            db, ideas, bot.board, events, clock, announcer=DiscordAnnouncer(bot), reputation=reputation
        ),
        digests=DigestService(
            db,
            clock,
            llm,
            DiscordDigestPublisher(bot),
            events=events,
            llm_budget_seconds=settings.digest_llm_budget_seconds,
            language_of=bot.public_language,
        ),
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
            report,
            allow_private=settings.webhook_allow_private,
            timeout=settings.webhook_timeout_seconds,
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
            language_of=bot.public_language,
        ),
        locales=MemberLocales(db, clock),
    )
    # Each guild's jobs and repairs run in the process holding its shard (bot/core/shards.py).
    shards = settings.shards
    for owner in (
        services.notices,
        services.reputation,
        services.programmes,
        services.digests,
        services.mailer,
        services.webhooks,
    ):
        owner.shards = shards
    return services


def build_bot(
    settings: Settings,
    db: Database,
    *,
    clock: Clock = system_clock,
    extensions: Sequence[str] = EXTENSIONS,
    **options: Any,
) -> IdeaBot:
    """The bot with all its services; `extensions` decides which features run. With
    IDEABOT_SHARD_COUNT set it runs that process's shard range (discord.py's AutoShardedBot)."""
    bot_class = ShardedIdeaBot if settings.shards.sharded else IdeaBot
    return bot_class(settings, db, build_services, clock=clock, extensions=extensions, **options)
