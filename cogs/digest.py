"""/digest (preview, post, schedule, email), the scheduler's start and catch-up, and the display
names the digest shows, learnt from what the bot sees."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import IdeaBot
from bot.core.errors import UserFacingError
from bot.digest.chart import CHART_FILENAME, chart_png
from bot.digest.render import digest_embeds
from bot.digest.rules import CURRENT, LAST, WEEKDAYS, Digest, DigestRuleError, IsoWeek
from bot.digest.scheduler import DigestScheduler
from bot.digest.service import DigestService
from bot.edge.embeds import NO_MENTIONS
from bot.edge.reactions import GatewayReaction
from bot.i18n import _
from bot.llm.client import LLMClient
from cogs.delivery import mailer_of, reply
from cogs.moderation import moderator_only

log = logging.getLogger(__name__)

WEEKDAY_CHOICES = [app_commands.Choice(name=day.capitalize(), value=day) for day in WEEKDAYS]
WEEK_HELP = "current (the week so far), last (the last complete week, the default) or YYYY-Www"


async def _week_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    options = [(_("Last complete week"), LAST), (_("The week so far"), CURRENT)]
    typed = current.strip()
    found = [app_commands.Choice(name=name, value=value) for name, value in options if typed.lower() in value]
    if typed and not found:
        found.append(app_commands.Choice(name=typed[:100], value=typed[:100]))
    return found


COG_NAME = "Digest"


# --- posting the digest ----------------------------------------------------------------------------


async def render_chart(digest: Digest) -> bytes | None:
    try:
        return await asyncio.to_thread(chart_png, digest)
    except Exception:
        log.exception("rendering the digest chart failed; posting without it")
        return None


class DiscordDigestPublisher:
    """Sends a digest as one or more messages (the chart attached to the first)."""

    def __init__(self, bot: IdeaBot) -> None:
        self.bot = bot

    async def publish(self, digest: Digest, channel_id: int) -> int:
        chart = await render_chart(digest)
        messages = digest_embeds(digest, chart=chart is not None)
        channel = self.bot.get_partial_messageable(channel_id)
        sent = await self._sent_before(channel, [embeds[0].title or "" for embeds in messages])
        first_id = 0
        for index, embeds in enumerate(messages):
            if index < len(sent):
                first_id = first_id or sent[index]
                continue
            kwargs: dict[str, Any] = {"embeds": embeds, "allowed_mentions": NO_MENTIONS}
            if index == 0 and chart is not None:
                kwargs["file"] = discord.File(io.BytesIO(chart), filename=CHART_FILENAME)
            message = await channel.send(**kwargs)
            first_id = first_id or message.id
        return first_id

    async def _sent_before(self, channel: discord.PartialMessageable, titles: list[str]) -> list[int]:
        """Ids of this digest's leading messages already in the channel: a run killed mid-post
        (or a send that failed half-way) sent them but never recorded them. Messages go out in
        order, so what is there is a prefix. A digest channel is quiet: the last 100 messages
        reach back to any earlier attempt."""
        me = self.bot.user.id if self.bot.user else None
        found: list[int] = []
        try:
            history = [m async for m in channel.history(limit=100, oldest_first=False)]
        except discord.HTTPException as exc:
            log.warning("could not read the digest channel %s before posting: %r", channel.id, exc)
            return found
        for message in reversed(history):  # oldest first
            if len(found) == len(titles):
                break
            if message.author.id == me and message.embeds and message.embeds[0].title == titles[len(found)]:
                found.append(message.id)
        return found


# --- the cog -------------------------------------------------------------------------------------------


@app_commands.guild_only()
class DigestCog(commands.GroupCog, name=COG_NAME, group_name="digest", group_description="The weekly digest"):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Every /digest command is for moderators (a class-level app_commands.check on a
        # GroupCog does not reach its commands).
        return await moderator_only(interaction)

    def __init__(self, bot: IdeaBot, digests: DigestService, llm: LLMClient | None):
        self.bot = bot
        self.digests = digests
        self.llm = llm
        self.scheduler = DigestScheduler(digests, bot.jobs)
        self.caught_up = asyncio.Event()
        self._catch_up_task: asyncio.Task[None] | None = None
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.reaction_observers.append(self.name_from_reaction)
        await self.scheduler.start()
        if self.bot.is_ready():
            self._start_catch_up()

    async def cog_unload(self) -> None:
        if self.name_from_reaction in self.bot.reaction_observers:
            self.bot.reaction_observers.remove(self.name_from_reaction)
        self.scheduler.shutdown()
        try:
            await self.digests.names.close()
        except Exception:
            log.exception("saving display names at shutdown failed")
        if self._catch_up_task is not None:
            self._catch_up_task.cancel()
        if self.llm is not None:
            await self.llm.aclose()

    def _start_catch_up(self) -> None:
        if self._catch_up_task is None:
            self._catch_up_task = asyncio.create_task(self._catch_up(), name="digest-catch-up")

    async def _catch_up(self) -> None:
        try:
            await self.scheduler.catch_up()
        except Exception:
            log.exception("digest catch-up failed; the hourly sweep retries")
        finally:
            self.caught_up.set()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self._start_catch_up()
        for guild in self.bot.guilds:
            self._roles_seen(guild)

    # --- names for the digest (no privileged intent: what interactions and reactions carry) -----

    def _roles_seen(self, guild: discord.Guild) -> None:
        self.digests.names.roles_seen(guild.id, [(r.id, r.name) for r in guild.roles if not r.is_default()])

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is not None and isinstance(interaction.user, discord.Member):
            self.digests.names.seen(interaction.guild_id, interaction.user.id, interaction.user.display_name)
            if interaction.guild is not None and interaction.guild.roles:
                self._roles_seen(interaction.guild)
            self._resolved_seen(interaction)

    def _resolved_seen(self, interaction: discord.Interaction) -> None:
        """Members and roles named in a command's options come with their names."""
        assert interaction.guild_id is not None
        data: dict[str, Any] = dict(interaction.data) if isinstance(interaction.data, dict) else {}
        resolved = data.get("resolved")
        if not isinstance(resolved, dict):
            return
        roles = resolved.get("roles") or {}
        self.digests.names.roles_seen(
            interaction.guild_id,
            [(int(rid), str(role["name"])) for rid, role in roles.items() if isinstance(role, dict) and "name" in role],
        )
        users = resolved.get("users") or {}
        for uid, member in (resolved.get("members") or {}).items():
            user = users.get(uid) if isinstance(users, dict) else None
            if not isinstance(member, dict) or not isinstance(user, dict) or user.get("bot"):
                continue
            name = member.get("nick") or user.get("global_name") or user.get("username")
            if name:
                self.digests.names.seen(interaction.guild_id, int(uid), str(name))

    def name_from_reaction(self, reaction: GatewayReaction) -> None:
        # The hot path (called inside the gateway's parse, no task): `seen` is a dictionary
        # look-up; a member is written at most once an hour.
        if reaction.guild_id is not None and not reaction.by_a_bot:
            name = reaction.display_name
            if name:
                self.digests.names.seen(reaction.guild_id, reaction.user_id, name)

    @commands.Cog.listener()
    async def on_guild_role_create(self, role: discord.Role) -> None:
        self._roles_seen(role.guild)

    @commands.Cog.listener()
    async def on_guild_role_update(self, before: discord.Role, after: discord.Role) -> None:
        self._roles_seen(after.guild)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        self._roles_seen(guild)

    # --- /digest ---------------------------------------------------------------------------------

    async def _week(self, interaction: discord.Interaction, week: str | None) -> IsoWeek:
        assert interaction.guild_id is not None
        try:
            chosen, __ = await self.digests.choose_week(interaction.guild_id, week)
        except DigestRuleError as exc:
            raise UserFacingError(str(exc)) from None
        return chosen

    @app_commands.command(name="preview", description="See a week's digest (only you)")
    @app_commands.describe(week=WEEK_HELP)
    @app_commands.autocomplete(week=_week_choices)
    async def preview(
        self, interaction: discord.Interaction, week: app_commands.Range[str, 1, 20] | None = None
    ) -> None:
        assert interaction.guild_id is not None
        chosen = await self._week(interaction, week)
        await interaction.response.defer(ephemeral=True, thinking=True)
        digest = await self.digests.build(interaction.guild_id, chosen)
        chart = await render_chart(digest)
        for index, embeds in enumerate(digest_embeds(digest, chart=chart is not None)):
            kwargs: dict[str, Any] = {"embeds": embeds, "ephemeral": True, "allowed_mentions": NO_MENTIONS}
            if index == 0 and chart is not None:
                kwargs["file"] = discord.File(io.BytesIO(chart), filename=CHART_FILENAME)
            await interaction.followup.send(**kwargs)

    @app_commands.command(name="post", description="Post a week's digest to the digest channel now")
    @app_commands.describe(week=WEEK_HELP)
    @app_commands.autocomplete(week=_week_choices)
    async def post(self, interaction: discord.Interaction, week: app_commands.Range[str, 1, 20] | None = None) -> None:
        assert interaction.guild_id is not None
        chosen = await self._week(interaction, week)
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.digests.post(interaction.guild_id, chosen, trigger="manual")
        if result.status == "no_channel":
            text = _("There is no digest channel yet: run /ideamod setup first.")
        elif result.status == "already" and result.message_id is None:
            text = _(
                "The digest for {week} is being posted. If that post was cut short, run /digest post again in a few "
                "minutes to finish it."
            ).format(week=result.week)
        elif result.status == "already":
            text = _("The digest for {week} was already posted").format(week=result.week)
            if result.channel_id and result.message_id:
                text += _(": https://discord.com/channels/{guild_id}/{channel_id}/{message_id}").format(
                    guild_id=interaction.guild_id, channel_id=result.channel_id, message_id=result.message_id
                )
            text += "."
        elif result.status == "preview":
            text = _(
                "Posted the week so far ({week}) in <#{channel_id}>. The week's own digest is still posted when the "
                "week is over."
            ).format(week=result.week, channel_id=result.channel_id)
        else:
            text = _("Posted the digest for {week} in <#{channel_id}>.").format(
                week=result.week, channel_id=result.channel_id
            )
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="schedule", description="When the weekly digest is posted")
    @app_commands.describe(
        weekday="Day of the week", hour="Hour of the day, 0-23", timezone="IANA zone, e.g. Europe/Berlin"
    )
    @app_commands.choices(weekday=WEEKDAY_CHOICES)
    async def schedule(
        self, interaction: discord.Interaction, weekday: str, hour: app_commands.Range[int, 0, 23], timezone: str
    ) -> None:
        assert interaction.guild_id is not None
        try:
            schedule = await self.digests.set_schedule(interaction.guild_id, weekday, hour, timezone)
        except DigestRuleError as exc:
            raise UserFacingError(str(exc)) from None
        self.scheduler.schedule_guild(interaction.guild_id, schedule)
        upcoming = self.scheduler.next_run(interaction.guild_id)

        def say() -> str:
            text = _("The weekly digest is now posted {describe}.").format(describe=schedule.describe())
            if upcoming is not None:
                text += _(" Next: <t:{timestamp}:F>.").format(timestamp=int(upcoming.timestamp()))
            return text

        await interaction.response.send_message(say(), ephemeral=True, allowed_mentions=NO_MENTIONS)
        await self.bot.modlog.record(interaction.guild_id, interaction.user.id, lambda: _("Digest schedule"), say)

    email = app_commands.Group(name="email", description="Who gets the weekly digest by email")

    @email.command(name="add", description="Mail every posted digest to this address")
    @app_commands.describe(address="An email address")
    async def email_add(self, interaction: discord.Interaction, address: app_commands.Range[str, 1, 320]) -> None:
        assert interaction.guild_id is not None
        added = await mailer_of(self.bot).add(interaction.guild_id, interaction.user.id, address)
        await reply(interaction, _("`{added}` will get every posted digest by email.").format(added=added))
        await self.bot.modlog.record(interaction.guild_id, interaction.user.id, lambda: _("Digest email added"), added)

    @email.command(name="remove", description="Stop mailing the digest to this address")
    @app_commands.describe(address="An email address on the list")
    async def email_remove(self, interaction: discord.Interaction, address: app_commands.Range[str, 1, 320]) -> None:
        assert interaction.guild_id is not None
        removed = await mailer_of(self.bot).remove(interaction.guild_id, address)
        await reply(interaction, _("`{removed}` no longer gets the digest by email.").format(removed=removed))
        await self.bot.modlog.record(
            interaction.guild_id, interaction.user.id, lambda: _("Digest email removed"), removed
        )

    @email.command(name="list", description="The addresses that get the digest by email")
    async def email_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        mailer = mailer_of(self.bot)
        addresses = await mailer.list(interaction.guild_id)
        text = "\n".join(f"• `{a}`" for a in addresses) if addresses else _("No addresses get the digest by email.")
        if not mailer.enabled:
            text += _("\nEmail is not configured on this bot (IDEABOT_SMTP_URL): nothing is mailed yet.")
        await reply(interaction, text)


async def setup(bot: IdeaBot) -> None:
    services = bot.services
    await bot.add_cog(DigestCog(bot, services.digests, services.llm))
