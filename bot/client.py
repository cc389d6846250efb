"""The discord.py client: its Discord-side parts (cards, notices, mod log, reaction reader), the
gateway hooks and the error replies. bot/app.py builds it with its services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.core.errors import UserFacingError
from bot.core.jobs import Jobs
from bot.core.shards import Owns, ShardPlan, owns_every_guild, shard_of
from bot.digest.rules import DigestRuleError
from bot.edge.embeds import NO_MENTIONS
from bot.edge.reactions import GatewayReaction, reaction_from_payload
from bot.events.bus import Clock, EventBus, system_clock
from bot.events.types import DigestPosted, IdeaStatusChanged
from bot.i18n import SOURCE, _, language_of, use
from bot.i18n.translator import CatalogueTranslator
from bot.ideas.cards import CardBoard, DiscordReactionReader
from bot.ideas.rules import IdeaRuleError
from bot.notices.sender import ModLog, Notifier
from bot.ops.metrics import CountersCollector, Metrics
from bot.settings import Settings
from bot.storage import Database

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "cogs.ideas",
    "cogs.moderation",
    "cogs.voting",
    "cogs.reputation",
    "cogs.duplicates",
    "cogs.digest",
    "cogs.programmes",
    "cogs.delivery",
)

# How long shutdown waits for pending card edits, and for notices being sent.
CLOSE_STEP_SECONDS = 2.0

# The gateway's reaction events, whether each is an add, and the discord.py events they become.
_REACTION_PAYLOADS = (
    ("MESSAGE_REACTION_ADD", True, ("raw_reaction_add", "reaction_add")),
    ("MESSAGE_REACTION_REMOVE", False, ("raw_reaction_remove", "reaction_remove")),
)
_SOCKET_EVENT_TYPE = ("socket_event_type",)


class NotModerator(app_commands.CheckFailure):
    pass


class BadOption(app_commands.AppCommandError):
    """An option value the command never offered (a modified client can send anything)."""


# SQLite stores signed 64-bit integers; a larger id could never name anything.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# The random id of a held draft, as carried in a button's custom_id.
HELD_DRAFT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def parse_id(text: str) -> int:
    """A number taken from a custom id or option; 0 (names nothing) when it does not fit SQLite."""
    if not text.isascii() or not text.isdigit():
        return 0
    value = int(text)
    return value if value <= INT64_MAX else 0


def _leaf_options(data: Any) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = list(data.get("options", [])) if isinstance(data, dict) else []
    while options and options[0].get("type") in (1, 2):  # subcommand (group): its options are inside
        options = list(options[0].get("options", []))
    return options


def option_problem(command: app_commands.Command[Any, ..., Any], options: list[dict[str, Any]]) -> str | None:
    """What Discord would have refused in these options (choices, number ranges), or None."""
    parameters = {parameter.display_name: parameter for parameter in command.parameters}
    for option in options:
        parameter = parameters.get(str(option.get("name")))
        value = option.get("value")
        if parameter is None or value is None:
            continue
        name = parameter.display_name
        if parameter.choices and value not in [choice.value for choice in parameter.choices]:
            allowed = ", ".join(str(choice.value) for choice in parameter.choices)
            return _("`{name}` must be one of: {allowed}.").format(name=name, allowed=allowed)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            low = parameter.min_value if parameter.min_value is not None else INT64_MIN
            high = parameter.max_value if parameter.max_value is not None else INT64_MAX
            if not low <= value <= high or value != value:
                return _("`{name}` must be a number from {low} to {high}.").format(name=name, low=low, high=high)
    return None


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
    if isinstance(error, UserFacingError | IdeaRuleError | DigestRuleError | BadOption):
        return str(error)
    if isinstance(error, app_commands.TransformerError):
        return _("One of the options has a value this command does not accept; please pick it again.")
    if isinstance(error, NotModerator):
        return _("This command is for moderators (Manage Server, or the server's moderator role).")
    if isinstance(error, app_commands.NoPrivateMessage):
        return _("This command only works in a server.")
    if isinstance(error, app_commands.CheckFailure):
        return _("You cannot use this command here.")
    return None


class IdeaCommandTree(app_commands.CommandTree["IdeaBot"]):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Discord checks options against the synced schema; a modified client is not bound by
        # it, so the same limits are checked here once, for every command, before any code runs.
        command = interaction.command
        if interaction.type is discord.InteractionType.application_command and isinstance(
            command, app_commands.Command
        ):
            problem = option_problem(command, _leaf_options(interaction.data))
            if problem is not None:
                raise BadOption(problem)
        return True

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        await answer_error(interaction, original)


def interaction_name(interaction: discord.Interaction) -> str:
    if interaction.command is not None:
        return interaction.command.qualified_name
    return "component" if interaction.type is discord.InteractionType.component else interaction.type.name


async def answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    text = user_message(error)
    if isinstance(interaction.client, IdeaBot):
        outcome = "refused" if text is not None else "error"
        interaction.client.metrics.interactions.labels(interaction_name(interaction), outcome).inc()
    if text is None:
        log.error("unexpected error in %s", interaction_name(interaction), exc_info=error)
        text = _("Something went wrong on our side. Nothing was changed; please try again in a moment.")
    try:
        await reply_ephemeral(interaction, text)
    except discord.HTTPException as exc:
        log.warning("could not tell the member about an error: %r", exc)


class IdeaBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        db: Database,
        build_services: Callable[[IdeaBot], Services],
        *,
        clock: Clock = system_clock,
        extensions: Sequence[str] = EXTENSIONS,
        **options: Any,
    ) -> None:
        self.jobs = Jobs()  # every feature's periodic and timed jobs
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True  # votes are reactions: the only event stream we need
        # The bot never joins voice: discord.py's start-up warnings about voice libraries are noise.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        self.metrics = Metrics()
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=IdeaCommandTree,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            http_trace=self.metrics.http_trace(),
            **options,
        )
        self.settings = settings
        self.shard_plan: ShardPlan = settings.shards
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
            language_of=self.public_language,
        )
        self.modlog = ModLog(self, self._log_channel_of, self.public_language)
        self.reaction_reader = DiscordReactionReader(self)
        # Every service, built by bot/app.py from this client's ports (cards, mod log, ...).
        self.services = build_services(self)
        self.ideas = self.services.ideas
        self.votes = self.services.votes
        self.votes.on_batch_written = self.metrics.vote_batch.observe
        self.notifier = Notifier(
            self,
            self.ideas,
            settings.notify_max_recipients,
            self.services.notices,
            public_language=self.public_language,
            member_language=self.member_language,
        )
        self.metrics.registry.register(
            CountersCollector(
                {
                    "ideabot_dms_sent": ("Status-change DMs sent", lambda: self.notifier.sent_dms),
                    "ideabot_dms_failed": ("Status-change DMs Discord refused", lambda: self.notifier.failed_dms),
                }
            )
        )
        self.events.subscribe(DigestPosted, self._count_digest)
        self.events.subscribe(IdeaStatusChanged, self.notifier.on_status_changed)
        self.recounts = 0
        self.metrics.registry.register(
            CountersCollector(
                {
                    "ideabot_votes_ingested": ("Reaction events written as votes", lambda: self.votes.written),
                    "ideabot_card_edits": ("Card edits sent to Discord", lambda: self.board.scheduler.stats.edits),
                    "ideabot_card_edit_failures": (
                        "Card edits Discord refused (retried)",
                        lambda: self.board.scheduler.stats.failures,
                    ),
                }
            )
        )
        # Where reaction events go (set by the voting cog), read from the payload by
        # _read_reactions_from_the_payload.
        self.reaction_sink: Callable[[GatewayReaction], None] | None = None
        # Other synchronous, cheap readers of reaction events (e.g. display names), called the
        # same way: a cog listener would cost discord.py's objects and a task per event.
        self.reaction_observers: list[Callable[[GatewayReaction], None]] = []
        # Checks a submission passes before it is posted (terms acceptance, duplicates, ...);
        # feature cogs add theirs in their setup(). See cogs/ideas.py: SubmissionGate.
        self.submission_gates: list[Any] = []
        # Idempotent repairs of effects a crash may have left owed (vote credits, reward roles,
        # notices); cogs add theirs in setup(). They run in setup_hook, before the vote writer.
        self.startup_repairs: list[Callable[[], Awaitable[object]]] = [self.notifier.start_up]
        self._speak_the_members_language()
        self._read_reactions_from_the_payload()

    def _speak_the_members_language(self) -> None:
        """Each interaction's task runs in its member's language: discord.py starts that task
        (command, button, modal) while parsing INTERACTION_CREATE, and a task inherits the
        language the parser set. The member's locale is also kept for DMs sent later."""
        parsers = self._connection.parsers
        parse = parsers["INTERACTION_CREATE"]
        locales = self.services.locales

        def parse_interaction_create(data: Any) -> None:
            locale = data.get("locale") if isinstance(data, dict) else None
            with use(locale if isinstance(locale, str) else None):
                parse(data)
            user = (data.get("member") or {}).get("user") or data.get("user") or {}
            if isinstance(locale, str) and str(user.get("id", "")).isdigit():
                locales.seen(int(user["id"]), locale)

        parsers["INTERACTION_CREATE"] = parse_interaction_create

    def _read_reactions_from_the_payload(self) -> None:
        """Reaction events go to the reaction sink and observers from the gateway's payload,
        synchronously, inside the gateway's parse (bot/edge/reactions.py says why). discord.py's
        parser, which builds its objects and dispatches the usual events, runs only while
        something listens for them (a cog listener, wait_for, an on_ method)."""
        parsers = self._connection.parsers
        for kind, added, events in _REACTION_PAYLOADS:
            full_parse = parsers[kind]

            def parse(
                data: Any,
                full_parse: Callable[[Any], None] = full_parse,
                added: bool = added,
                events: tuple[str, ...] = events,
            ) -> None:
                try:
                    reaction = reaction_from_payload(data, added)
                    if self.reaction_sink is not None:
                        self.reaction_sink(reaction)
                    for observer in self.reaction_observers:
                        observer(reaction)
                except Exception:  # never into discord.py's gateway reader; a recount repairs it
                    log.exception("a reaction event could not be handled")
                if self._listens_for(events):
                    full_parse(data)

            parsers[kind] = parse

    def _listens_for(self, events: tuple[str, ...]) -> bool:
        """Whether anything would receive these discord.py events: a wait_for, a cog listener, an
        on_ method."""
        for event in events:
            method = "on_" + event
            if self._listeners.get(event) or self.extra_events.get(method) or hasattr(self, method):
                return True
        return False

    async def public_language(self, guild_id: int) -> str:
        """The language of the guild's public messages: the one chosen at setup, else the
        server's preferred locale."""
        chosen = (await self.ideas.settings(guild_id)).language
        if chosen:
            return language_of(chosen)
        guild = self.get_guild(guild_id)
        return language_of(guild.preferred_locale.value if guild is not None else None)

    async def member_language(self, user_id: int, guild_id: int) -> str:
        """The language of DMs to a member: their locale as last seen, else the language of the
        server the DM is about (a member who never used a command has told us nothing)."""
        seen = await self.services.locales.of(user_id)
        return language_of(seen) if seen else await self.public_language(guild_id)

    async def _count_digest(self, event: DigestPosted) -> None:
        self.metrics.digests_posted.inc()

    async def _load_idea(self, idea_id: int) -> Any:
        return await self.ideas.get_by_id(idea_id)

    async def _log_channel_of(self, guild_id: int) -> int | None:
        return (await self.ideas.settings(guild_id)).log_channel_id

    async def setup_hook(self) -> None:
        self.jobs.start()
        if self.user is not None:
            self.votes.bot_user_id = self.user.id
        for name in self.extension_names:
            await self.load_extension(name)
        await self.tree.set_translator(CatalogueTranslator())
        if self.settings.sync_commands:
            await self.tree.sync()
        address = self.settings.metrics_host_port
        if address is not None:
            port = self.metrics.serve(*address)
            log.info("metrics at http://%s:%d/metrics", address[0], port)
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
        await self._recount_after_ready("READY", owns_every_guild)

    async def _recount_after_ready(self, session: str, guilds: Owns) -> None:
        assert self.user is not None
        self.votes.bot_user_id = self.user.id
        self.metrics.gateway_sessions.labels("ready").inc()
        since = self.clock() - timedelta(days=self.settings.recount_active_days)
        try:
            changed = await self.votes.recount_recent(self.reaction_reader, since, guilds)
            self.metrics.recounted_votes.inc(changed)
            log.info("%s as %s (%s); recount fixed %d votes", session, self.user, self.user.id, changed)
        except Exception:
            log.exception("recount after %s failed; votes are recounted at the next READY", session)
        finally:
            self.recounts += 1

    async def on_resumed(self) -> None:
        self.metrics.gateway_sessions.labels("resumed").inc()

    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: app_commands.Command[Any, ..., Any] | app_commands.ContextMenu
    ) -> None:
        self.metrics.interactions.labels(command.qualified_name, "ok").inc()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py waits 5 s before a fresh IDENTIFY (Discord's identify rate limit); a local
        # emulator has no such limit, so tests and the demo reconnect at once.
        if yarl.URL(self.settings.discord_gateway_url).host in ("127.0.0.1", "localhost"):
            return
        await super().before_identify_hook(shard_id, initial=initial)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        if event_name == "socket_event_type" and not self._listens_for(_SOCKET_EVENT_TYPE):
            return  # sent for every gateway event (tens of thousands a minute in a vote burst)
        if event_name == "interaction":
            self.metrics.interaction_received(args[0].id)
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
        self.metrics.stop()
        self.jobs.shutdown()
        await super().close()  # unloads the cogs: reputation flushes its pending role changes
        await self.services.aclose()


class ShardedIdeaBot(IdeaBot, commands.AutoShardedBot):
    """The bot running a range of shards (IDEABOT_SHARD_COUNT, IDEABOT_SHARD_IDS): each shard has
    its own session, so each READY recounts only the guilds of its shard."""

    def __init__(self, settings: Settings, db: Database, build_services: Callable[[IdeaBot], Services], **options: Any):
        plan = settings.shards
        super().__init__(settings, db, build_services, shard_count=plan.count, shard_ids=list(plan.ids), **options)

    async def on_ready(self) -> None:
        # Every shard's READY has its own on_shard_ready, which recounts that shard's guilds.
        pass

    async def on_shard_ready(self, shard_id: int) -> None:
        count = self.shard_plan.count
        await self._recount_after_ready(
            f"READY of shard {shard_id}/{count}", lambda guild_id: shard_of(guild_id, count) == shard_id
        )


async def guild_language(client: discord.Client, guild_id: int) -> str:
    """The language of `guild_id`'s public messages (English for a client that is not ideabot's)."""
    return await client.public_language(guild_id) if isinstance(client, IdeaBot) else SOURCE


def is_moderator(interaction: discord.Interaction, moderator_role_id: int | None) -> bool:
    """Decided on our side from what Discord reports for this member in this channel."""
    if interaction.guild is None or not isinstance(interaction.user, discord.Member):
        return False
    if interaction.permissions.manage_guild or interaction.permissions.administrator:
        return True
    return moderator_role_id is not None and any(role.id == moderator_role_id for role in interaction.user.roles)
