"""/rep show, /rep top; the reputation service wired to domain events; Discord's side of reward
roles (REST calls by id: members are not cached without the members intent) and the checks
/ideamod role add runs before it accepts a role."""

from __future__ import annotations

import hashlib
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import IdeaBot, is_moderator
from bot.core.errors import UserFacingError
from bot.edge.channels import messageable
from bot.edge.embeds import NO_MENTIONS
from bot.events.types import IdeasMerged, IdeaStatusChanged, IdeaSubmitted, IdeaWithdrawn, VoteChanged
from bot.i18n import _, use
from bot.ideas import privacy
from bot.ideas.privacy import Viewer
from bot.ideas.ranking import Period
from bot.ideas.rules import Idea, Status
from bot.reputation.render import (
    leaderboard_embed,
    profile_embed,
    role_refused_text,
    role_unsafe_text,
    serial_voting_text,
    thank_you_text,
)
from bot.reputation.service import MemberGone, ReputationService, RoleRefused, RoleUnsafe

log = logging.getLogger(__name__)

# Permissions a reward role may not carry: points are earned by votes, so anything that lets a
# member administer, moderate, manage or mass-ping the server is out of reach of reputation.
UNSAFE_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("administrator", "Administrator"),
    ("manage_guild", "Manage Server"),
    ("manage_roles", "Manage Roles"),
    ("manage_channels", "Manage Channels"),
    ("manage_webhooks", "Manage Webhooks"),
    ("kick_members", "Kick Members"),
    ("ban_members", "Ban Members"),
    ("moderate_members", "Timeout Members"),
    ("mention_everyone", "Mention @everyone, @here and All Roles"),
    ("manage_messages", "Manage Messages"),
    ("manage_threads", "Manage Threads"),
    ("manage_nicknames", "Manage Nicknames"),
    ("manage_expressions", "Manage Expressions"),
    ("manage_events", "Manage Events"),
    ("view_audit_log", "View Audit Log"),
    ("view_guild_insights", "View Server Insights"),
    ("view_creator_monetization_analytics", "View Creator Monetization Analytics"),
    ("move_members", "Move Members"),
    ("mute_members", "Mute Members"),
    ("deafen_members", "Deafen Members"),
    ("pin_messages", "Pin Messages"),
)


def unsafe_permissions(permissions: discord.Permissions) -> list[str]:
    """The names of the permissions in `permissions` a reward role may not carry."""
    return [label for flag, label in UNSAFE_PERMISSIONS if getattr(permissions, flag, False)]


class DiscordReputationOutlet:
    """The service's port to Discord."""

    def __init__(self, bot: IdeaBot) -> None:
        self.bot = bot

    async def add_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        # Checked at every award: the role may have gained permissions since it was accepted.
        permissions = await self._role_permissions(guild_id, role_id)
        if permissions is not None and (unsafe := unsafe_permissions(permissions)):
            raise RoleUnsafe(", ".join(unsafe))
        try:
            await self.bot.http.add_role(guild_id, user_id, role_id, reason="ideabot: reputation threshold reached")
        except discord.Forbidden as exc:
            raise RoleRefused(exc.text or "Missing Permissions") from exc
        except discord.NotFound as exc:
            raise MemberGone(exc.text) from exc

    async def remove_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        try:
            await self.bot.http.remove_role(guild_id, user_id, role_id, reason="ideabot: reputation below threshold")
        except discord.Forbidden as exc:
            raise RoleRefused(exc.text or "Missing Permissions") from exc
        except discord.NotFound as exc:
            raise MemberGone(exc.text) from exc

    async def _role_permissions(self, guild_id: int, role_id: int) -> discord.Permissions | None:
        """The role's permissions as the gateway last described them (GUILD_ROLE_UPDATE keeps the
        cache current); read from REST when the cache does not know the role. None if it is gone."""
        guild = self.bot.get_guild(guild_id)
        role = guild.get_role(role_id) if guild is not None else None
        if role is not None:
            return role.permissions
        for data in await self.bot.http.get_roles(guild_id):
            if int(data["id"]) == role_id:
                return discord.Permissions(int(data["permissions"]))
        return None

    def _me(self) -> int:
        return self.bot.user.id if self.bot.user else 0

    async def report_serial_voting(self, guild_id: int, voter_id: int, author_id: int, votes: int) -> None:
        rules = await self.bot.services.reputation.rules(guild_id)
        with use(await self.bot.public_language(guild_id)):
            text = serial_voting_text(voter_id, author_id, votes, rules.serial_window_minutes)
            action = _("Serial voting detected")
        await self.bot.modlog.record(guild_id, self._me(), action, text)

    async def report_role_refused(self, guild_id: int, role_id: int, user_id: int, adding: bool, detail: str) -> None:
        with use(await self.bot.public_language(guild_id)):
            text = role_refused_text(role_id, user_id, adding, detail)
            action = _("Reward role refused")
        await self.bot.modlog.record(guild_id, self._me(), action, text)

    async def report_role_unsafe(self, guild_id: int, role_id: int, permissions: str) -> None:
        with use(await self.bot.public_language(guild_id)):
            text = role_unsafe_text(role_id, permissions)
            action = _("Reward role not given")
        await self.bot.modlog.record(guild_id, self._me(), action, text)

    async def thank(self, idea: Idea, status: Status, people: list[int]) -> None:
        if idea.thread_id is None:
            return
        try:
            thread = await messageable(self.bot, idea.thread_id)
            if thread is not None:
                # Sent again after a crash: the nonce lets Discord drop a repeat it already took.
                nonce = "t" + hashlib.blake2b(f"thanks:{idea.id}:{status.value}".encode(), digest_size=12).hexdigest()
                with use(await self.bot.public_language(idea.guild_id)):
                    text = thank_you_text(idea, status, people)
                await thread.send(text, allowed_mentions=NO_MENTIONS, nonce=nonce)
        except discord.HTTPException as exc:
            log.warning("could not thank the authors of idea %s: %r", idea.id, exc)


def role_problem(guild: discord.Guild | None, role: discord.Role, can_manage_roles: bool) -> str | None:
    """Why the bot could not give `role`, in words a moderator can act on; None if it can."""
    if role.is_default():
        return _("@everyone cannot be a reward role.")
    if role.managed:
        return _("{role} is managed by an integration (a bot or a boost role); pick a role you created.").format(
            role=role.mention
        )
    if not can_manage_roles:
        return _("I need the **Manage Roles** permission to give reward roles: add it to my role, then try again.")
    me = guild.me if guild is not None else None
    if me is not None and role >= me.top_role:
        return _(
            "{role} is above (or level with) my highest role {top_role}, so Discord will not let me give it. Drag "
            "my role above it in Server Settings → Roles, then try again."
        ).format(role=role.mention, top_role=me.top_role.mention)
    return None


def unsafe_role_problem(role: discord.Role) -> str | None:
    """Why `role` may not be earned with points (what it lets a member do), or None."""
    unsafe = unsafe_permissions(role.permissions)
    if not unsafe:
        return None
    return _(
        "{role} carries permissions a reward role may not have: {join}. Reputation comes from votes, so it cannot "
        "hand out power over the server. Pick a role without them (or remove them from this role in Server Settings "
        "→ Roles), then try again."
    ).format(role=role.mention, join=", ".join(unsafe))


def hierarchy_problem(invoker: discord.User | discord.Member, role: discord.Role) -> str | None:
    """Why the moderator may not make `role` a reward role, by Discord's own hierarchy: only the
    owner, or a member whose highest role is above it, could hand it out themselves."""
    if not isinstance(invoker, discord.Member):
        return _("Reward roles can only be set inside the server.")
    if invoker.guild.owner_id == invoker.id or invoker.top_role > role:
        return None
    return _(
        "{role} is not below your highest role, so Discord would not let you give it yourself, and I will not give "
        "it for you. Ask someone whose role is above it (or the server owner)."
    ).format(role=role.mention)


async def add_reward_role(bot: IdeaBot, interaction: discord.Interaction, role: discord.Role, points: int) -> str:
    """/ideamod role add: refuse roles the bot could not hand out, roles that carry power over the
    server, and roles the moderator could not give themselves; then save and reconcile."""
    assert interaction.guild_id is not None
    problem = (
        role_problem(interaction.guild, role, interaction.app_permissions.manage_roles)
        or unsafe_role_problem(role)
        or hierarchy_problem(interaction.user, role)
    )
    if problem is not None:
        raise UserFacingError(problem)
    created = await bot.services.reputation.add_reward_role(interaction.guild_id, interaction.user.id, role.id, points)
    text = (
        _("{role} is now a reward role at {points} points.") if created else _("{role} now needs at {points} points.")
    )
    return (
        text.format(role=role.mention, points=points)
        + " "
        + _("Members who reach it get it; those who fall below lose it.")
    )


async def remove_reward_role(bot: IdeaBot, interaction: discord.Interaction, role: discord.Role) -> str:
    assert interaction.guild_id is not None
    # Unsafe roles may always be removed: that only stops the bot from giving them.
    problem = hierarchy_problem(interaction.user, role) if not unsafe_permissions(role.permissions) else None
    if problem is not None:
        raise UserFacingError(problem)
    await bot.services.reputation.remove_reward_role(interaction.guild_id, role.id)
    return _(
        "{role} is no longer a reward role. Members who hold it keep it; remove it from them by hand if it should go."
    ).format(role=role.mention)


@app_commands.guild_only()
class Reputation(commands.GroupCog, group_name="rep", group_description="Reputation and recognition"):
    def __init__(self, bot: IdeaBot, service: ReputationService) -> None:
        self.bot = bot
        self.service = service
        super().__init__()

    async def cog_unload(self) -> None:
        await self.service.stop()

    async def _viewer(self, interaction: discord.Interaction) -> Viewer:
        """Who asks: anonymous credit is shown to its own member and to moderators only."""
        assert interaction.guild_id is not None
        settings = await self.bot.ideas.settings(interaction.guild_id)
        return privacy.member(interaction.user.id, moderator=is_moderator(interaction, settings.moderator_role_id))

    @app_commands.command(name="show", description="Points, rank, recent reasons and the next reward role")
    @app_commands.describe(member="Whose reputation (default: yours)")
    async def show(self, interaction: discord.Interaction, member: discord.User | None = None) -> None:
        assert interaction.guild_id is not None
        who = member or interaction.user
        profile = await self.service.profile(interaction.guild_id, who.id, viewer=await self._viewer(interaction))
        await interaction.response.send_message(
            embed=profile_embed(profile), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="top", description="Who earned the most reputation")
    @app_commands.describe(period="Points earned within (default: all time)")
    async def top(self, interaction: discord.Interaction, period: Period = Period.ALL) -> None:
        assert interaction.guild_id is not None
        rows = await self.service.leaderboard(interaction.guild_id, period, viewer=await self._viewer(interaction))
        await interaction.response.send_message(
            embed=leaderboard_embed(period, rows), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: IdeaBot) -> None:
    service = bot.services.reputation
    bot.events.subscribe(IdeaSubmitted, service.on_idea_submitted)
    bot.events.subscribe_batch(VoteChanged, service.on_votes_changed)
    bot.events.subscribe(IdeaStatusChanged, service.on_status_changed)
    bot.events.subscribe(IdeaWithdrawn, service.on_idea_withdrawn)
    bot.events.subscribe(IdeasMerged, service.on_ideas_merged)
    bot.startup_repairs += [
        service.credit_pending_votes,
        service.credit_pending_merges,
        service.repair_status_bonuses,
        service.repair_submissions_and_withdrawals,
        service.send_owed_thanks,
        service.reconcile_all,
    ]
    await bot.add_cog(Reputation(bot, service))
