"""The discord.py client: wires settings, database, services and cogs together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.cards import CardBoard, DiscordReactionReader
from bot.db import Database
from bot.domain.events import IdeaStatusChanged
from bot.domain.ideas import IdeaRuleError
from bot.notifications import ModLog, Notifier
from bot.render import NO_MENTIONS
from bot.services.errors import UserFacingError
from bot.services.events import Clock, EventBus, system_clock
from bot.services.ideas import IdeaService
from bot.services.notices import NoticeService
from bot.services.votes import VoteService
from bot.settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "cogs.ideas",
    "cogs.moderation",
    "cogs.voting",
    "cogs.reputation",
    "cogs.digest",
    "cogs.programmes",
)

# How long shutdown waits for pending card edits, and for notices being sent.
CLOSE_STEP_SECONDS = 2.0

_REACTION_EVENTS = frozenset({"raw_reaction_add", "raw_reaction_remove"})


class NotModerator(app_commands.CheckFailure):
    pass


def point_discord_at(settings: Settings) -> None:
    """Aim discord.py at the configured REST and gateway servers (Discord or the emulator)."""
    discord.http.Route.BASE = settings.discord_api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


def user_message(error: BaseException) -> str | None:
    """The message a member sees for an expected error, or None for a bug."""
    if isinstance(error, UserFacingError | IdeaRuleError):
        return str(error)
    if isinstance(error, NotModerator):
        return "This command is for moderators (Manage Server, or the server's moderator role)."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    return None


class IdeaCommandTree(app_commands.CommandTree["IdeaBot"]):
    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        await answer_error(interaction, original)


async def answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    text = user_message(error)
    if text is None:
        command = interaction.command.qualified_name if interaction.command else "interaction"
        log.error("unexpected error in %s", command, exc_info=error)
        text = "Something went wrong on our side. Nothing was changed; please try again in a moment."
    try:
        await reply_ephemeral(interaction, text)
    except discord.HTTPException as exc:
        log.warning("could not tell the member about an error: %r", exc)


class IdeaBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        clock: Clock = system_clock,
        extensions: Sequence[str] = EXTENSIONS,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True  # votes are reactions: the only event stream we need
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=IdeaCommandTree,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            **options,
        )
        self.settings = settings
        self.db = db
        self.clock = clock
        self.extension_names = tuple(extensions)
        self.events = EventBus()
        self.board = CardBoard(
            self,
            self._load_idea,
            card_interval=settings.card_edit_interval_seconds,
            channel_budget=settings.channel_edits_per_window,
            channel_window=settings.channel_edit_window_seconds,
        )
        self.ideas = IdeaService(db, self.board, self.events, clock)
        self.votes = VoteService(db, self.board, self.events, clock, settings.vote_batch_seconds)
        self.notifier = Notifier(self, self.ideas, settings.notify_max_recipients, NoticeService(db, clock))
        self.modlog = ModLog(self, self._log_channel_of)
        self.reaction_reader = DiscordReactionReader(self)
        self.events.subscribe(IdeaStatusChanged, self.notifier.on_status_changed)
        self.recounts = 0
        # Where raw reaction events go (set by the voting cog): (payload, added) -> None.
        self.reaction_sink: Callable[[discord.RawReactionActionEvent, bool], None] | None = None
        # Checks a submission passes before it is posted (terms acceptance, duplicates, ...);
        # feature cogs add theirs in their setup(). See cogs/ideas.py: SubmissionGate.
        self.submission_gates: list[Any] = []
        # Idempotent repairs of effects a crash may have left owed (vote credits, reward roles,
        # notices); cogs add theirs in setup(). They run in setup_hook, before the vote writer.
        self.startup_repairs: list[Callable[[], Awaitable[object]]] = [self.notifier.start_up]

    async def _load_idea(self, idea_id: int) -> Any:
        return await self.ideas.get_by_id(idea_id)

    async def _log_channel_of(self, guild_id: int) -> int | None:
        return (await self.ideas.settings(guild_id)).log_channel_id

    async def setup_hook(self) -> None:
        if self.user is not None:
            self.votes.bot_user_id = self.user.id
        for name in self.extension_names:
            await self.load_extension(name)
        if self.settings.sync_commands:
            await self.tree.sync()
        for repair in self.startup_repairs:
            try:
                await repair()
            except Exception:
                log.exception("start-up repair %s failed; it runs again at the next start", repair)
        self.votes.start()
        self.board.scheduler.start()

    async def on_ready(self) -> None:
        # READY means a new session (a RESUME fires on_resumed instead): events may have been
        # missed, so recount the reactions of recently active cards.
        assert self.user is not None
        self.votes.bot_user_id = self.user.id
        since = self.clock() - timedelta(days=self.settings.recount_active_days)
        try:
            changed = await self.votes.recount_recent(self.reaction_reader, since)
            log.info("ready as %s (%s); recount fixed %d votes", self.user, self.user.id, changed)
        except Exception:
            log.exception("recount after READY failed; votes are recounted at the next READY")
        finally:
            self.recounts += 1

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py waits 5 s before a fresh IDENTIFY (Discord's identify rate limit); a local
        # emulator has no such limit, so tests and the demo reconnect at once.
        if yarl.URL(self.settings.discord_gateway_url).host in ("127.0.0.1", "localhost"):
            return
        await super().before_identify_hook(shard_id, initial=initial)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        # Reactions are the hot path (hundreds a second in a burst on a popular idea): the
        # reaction sink takes them here, synchronously, instead of through a listener task per
        # event. Listeners for the same events still run as usual.
        if self.reaction_sink is not None and event_name in _REACTION_EVENTS:
            try:
                self.reaction_sink(args[0], event_name == "raw_reaction_add")
            except Exception:  # never into discord.py's gateway reader; a recount repairs it
                log.exception("a reaction event could not be queued")
        super().dispatch(event_name, *args, **kwargs)

    async def close(self) -> None:
        # Bounded steps, so a stop signal ends the process within seconds; whatever is left
        # owed (notices, role changes) is durable and resumed at the next start.
        await self.votes.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.board.scheduler.wait_idle(), timeout=CLOSE_STEP_SECONDS)
        await self.board.scheduler.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.notifier.wait_sent(), timeout=CLOSE_STEP_SECONDS)
        await super().close()  # unloads the cogs: reputation flushes its pending role changes


def is_moderator(interaction: discord.Interaction, moderator_role_id: int | None) -> bool:
    """Decided on our side from what Discord reports for this member in this channel."""
    if interaction.guild is None or not isinstance(interaction.user, discord.Member):
        return False
    if interaction.permissions.manage_guild or interaction.permissions.administrator:
        return True
    return moderator_role_id is not None and any(role.id == moderator_role_id for role in interaction.user.roles)
