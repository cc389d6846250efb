"""/ideamod: setup, statuses, merges, blocks. Permission is checked here, on our side, from
the permissions Discord computed for the member: never trusted to the client's menu."""

from __future__ import annotations

from collections.abc import Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import IdeaBot, NotModerator, is_moderator, reply_ephemeral
from bot.core.errors import UserFacingError
from bot.delivery.rules import EVENTS as WEBHOOK_EVENTS
from bot.edge.embeds import NO_MENTIONS
from bot.i18n import DISCORD_LOCALES, LANGUAGE_NAMES, LANGUAGES, N_, _, language_of, use
from bot.ideas.render import card_link
from bot.ideas.rules import MODERATOR_STATUSES, Status, parse_status
from bot.programmes.render import review_queue_embed
from bot.programmes.rules import describe_stages
from cogs.delivery import reply
from cogs.reputation import add_reward_role, remove_reward_role

RULE_OPTIONS = (
    "submission_points",
    "submissions_per_day",
    "upvote_points",
    "vote_points_per_day",
    "planned_points",
    "implemented_points",
    "min_account_age_days",
    "min_member_age_hours",
)

# Offered under each language's own name; the value is its Discord locale.
LANGUAGE_CHOICES = [app_commands.Choice(name=LANGUAGE_NAMES[code], value=DISCORD_LOCALES[code]) for code in LANGUAGES]

STATUS_CHOICES = [
    app_commands.Choice(name=status.label, value=status.value)
    for status in MODERATOR_STATUSES
    if status is not Status.DUPLICATE
]


def manages_server(interaction: discord.Interaction) -> bool:
    """Discord's own Manage Server (or Administrator, or ownership), not the bot's moderator role."""
    permissions = interaction.permissions
    return permissions.manage_guild or permissions.administrator


def outranks(invoker: discord.User | discord.Member, target: discord.User | discord.Member) -> bool:
    """Discord's hierarchy for acting on a member (as for kick or timeout): the owner outranks
    everyone; otherwise the invoker's highest role must be above the target's. Non-members
    (people who left) have no rank."""
    if not isinstance(invoker, discord.Member):
        return False
    if invoker.guild.owner_id == invoker.id:
        return True
    if not isinstance(target, discord.Member):
        return True
    return target.guild.owner_id != target.id and invoker.top_role > target.top_role


async def moderator_only(interaction: discord.Interaction) -> bool:
    bot = interaction.client
    assert isinstance(bot, IdeaBot)
    if interaction.guild_id is None:
        raise NotModerator()
    settings = await bot.ideas.settings(interaction.guild_id)
    if not is_moderator(interaction, settings.moderator_role_id):
        raise NotModerator()
    return True


@app_commands.guild_only()
class Moderation(commands.GroupCog, group_name="ideamod", group_description="Moderate ideas"):
    def __init__(self, bot: IdeaBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Runs for every command and subcommand group of this cog (a class-level
        # app_commands.check on a GroupCog does not reach its commands).
        return await moderator_only(interaction)

    async def _done(self, interaction: discord.Interaction, text: str | Callable[[], str], action: str) -> None:
        """Answer the moderator and log the action. `text` as a function is rendered twice: in the
        moderator's language for the reply, in the server's for the log; `action` is a message id."""
        reply = text() if callable(text) else text
        await reply_ephemeral(interaction, reply)
        assert interaction.guild_id is not None
        with use(await self.bot.public_language(interaction.guild_id)):
            title, details = _(action), text() if callable(text) else text
        await self.bot.modlog.record(interaction.guild_id, interaction.user.id, title, details)

    @app_commands.command(name="setup", description="Choose the channels (and moderator role) ideabot uses")
    @app_commands.describe(
        language="The language of cards, announcements and digests (default: the server's preferred locale)"
    )
    @app_commands.choices(language=LANGUAGE_CHOICES)
    async def setup_guild(
        self,
        interaction: discord.Interaction,
        ideas_channel: discord.TextChannel,
        digest_channel: discord.TextChannel,
        log_channel: discord.TextChannel | None = None,
        moderator_role: discord.Role | None = None,
        language: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        # Setup decides who the moderators are and where the log (which names anonymous authors)
        # goes: server settings, so Discord's Manage Server, never the bot's moderator role.
        if not manages_server(interaction):
            raise UserFacingError(
                _(
                    "Only members with the **Manage Server** permission can set up ideabot: it chooses the "
                    "moderators and the log channel. Ask a server admin."
                )
            )
        if moderator_role is not None and (moderator_role.is_default() or moderator_role.managed):
            raise UserFacingError(
                _(
                    "{moderator_role} cannot be the moderator role: @everyone and roles managed by an integration "
                    "(bots, server boosts) would make moderators of people nobody chose."
                ).format(moderator_role=moderator_role.mention)
            )
        invoker = interaction.user
        assert isinstance(invoker, discord.Member)  # moderator_only let only members through
        chosen = [channel for channel in (ideas_channel, digest_channel, log_channel) if channel is not None]
        unseen = [channel.mention for channel in chosen if not channel.permissions_for(invoker).view_channel]
        if unseen:
            raise UserFacingError(
                _(
                    "You cannot see {join} yourself, so you cannot point ideabot at it. Pick channels you can see, "
                    "or ask someone who can."
                ).format(join=", ".join(unseen))
            )
        await self.bot.ideas.setup(
            interaction.guild_id,
            interaction.user.id,
            ideas_channel_id=ideas_channel.id,
            digest_channel_id=digest_channel.id,
            log_channel_id=log_channel.id if log_channel else None,
            moderator_role_id=moderator_role.id if moderator_role else None,
            language=language_of(language) if language else None,
        )

        def say() -> str:
            parts = [
                _("Ideas go to {ideas_channel}").format(ideas_channel=ideas_channel.mention),
                _("the weekly digest to {digest_channel}").format(digest_channel=digest_channel.mention),
            ]
            if log_channel:
                parts.append(_("moderator actions are logged in {log_channel}").format(log_channel=log_channel.mention))
            if moderator_role:
                parts.append(_("{moderator_role} may moderate").format(moderator_role=moderator_role.mention))
            if language:
                name = LANGUAGE_NAMES[language_of(language)]
                parts.append(_("cards, announcements and digests are in {language}").format(language=name))
            text = _("Set up: ") + "; ".join(parts) + "."
            guild = interaction.guild
            if log_channel and guild is not None and log_channel.permissions_for(guild.default_role).view_channel:
                text += _(
                    "\n⚠️ Everyone can read {log_channel}, and the log names the authors of anonymous ideas: make it "
                    "private to moderators (channel settings → Permissions)."
                ).format(log_channel=log_channel.mention)
            return text

        await self._done(interaction, say, N_("Setup"))

    @app_commands.command(name="status", description="Move an idea through its lifecycle")
    @app_commands.describe(reason="Why (required when declining); the author and supporters are told")
    @app_commands.choices(status=STATUS_CHOICES)
    async def status(
        self, interaction: discord.Interaction, id: app_commands.Range[int, 1], status: str, reason: str | None = None
    ) -> None:
        assert interaction.guild_id is not None
        # Acknowledge first: a status change waits for the database behind a vote burst.
        await interaction.response.defer(ephemeral=True, thinking=True)
        change = await self.bot.ideas.set_status(
            interaction.guild_id, interaction.user.id, id, parse_status(status), reason
        )
        idea = change.idea

        def say() -> str:
            text = _("#{number} is now **{status}** (was {old_status}). {card_link}").format(
                number=idea.number,
                status=idea.status.label,
                old_status=change.old_status.label,
                card_link=card_link(idea),
            )
            return text

        await self._done(interaction, say, N_("Status changed"))

    @app_commands.command(name="merge", description="Merge a duplicate into the original; votes move over")
    @app_commands.describe(source="The duplicate's number", target="The original's number")
    async def merge(
        self,
        interaction: discord.Interaction,
        source: app_commands.Range[int, 1],
        target: app_commands.Range[int, 1],
    ) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)  # a merge moves many votes
        merged, kept = await self.bot.ideas.merge(interaction.guild_id, interaction.user.id, source, target)

        def say() -> str:
            text = _(
                "#{number} is merged into #{number2}; #{number2} now has 👍 {upvotes} 👎 {downvotes}. {card_link}"
            ).format(
                number=merged.number,
                number2=kept.number,
                upvotes=kept.upvotes,
                downvotes=kept.downvotes,
                card_link=card_link(kept),
            )
            return text

        await self._done(interaction, say, N_("Ideas merged"))

    @app_commands.command(name="block", description="Stop a member from submitting ideas")
    async def block(self, interaction: discord.Interaction, member: discord.User) -> None:
        assert interaction.guild_id is not None
        if not outranks(interaction.user, member):
            raise UserFacingError(
                _(
                    "{member} is the owner or has a role level with or above yours: like Discord's own moderation, "
                    "you can only block members below you."
                ).format(member=member.mention)
            )
        changed = await self.bot.ideas.set_blocked(interaction.guild_id, interaction.user.id, member.id, True)

        def say() -> str:
            if changed:
                return _("{member} can no longer submit ideas.").format(member=member.mention)
            return _("{member} was already blocked.").format(member=member.mention)

        await self._done(interaction, say, N_("Member blocked"))

    @app_commands.command(name="unblock", description="Let a blocked member submit ideas again")
    async def unblock(self, interaction: discord.Interaction, member: discord.User) -> None:
        assert interaction.guild_id is not None
        changed = await self.bot.ideas.set_blocked(interaction.guild_id, interaction.user.id, member.id, False)

        def say() -> str:
            if changed:
                return _("{member} can submit ideas again.").format(member=member.mention)
            return _("{member} was not blocked.").format(member=member.mention)

        await self._done(interaction, say, N_("Member unblocked"))

    # --- innovation programmes (the logic lives in bot/programmes/service.py) ---------------------

    @app_commands.command(name="queue", description="Ideas awaiting review (reached a support threshold)")
    async def queue(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        entries = await self.bot.services.programmes.review_queue(interaction.guild_id)
        await interaction.response.send_message(
            embed=review_queue_embed([(e.idea, e.stage) for e in entries]),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    terms = app_commands.Group(name="terms", description="Contribution terms members accept before submitting")

    @terms.command(name="set", description="Set the terms text and version; members accept each new version")
    @app_commands.describe(text="The terms members accept", version="A new version name, e.g. 2026-1")
    async def terms_set(self, interaction: discord.Interaction, text: str, version: str) -> None:
        assert interaction.guild_id is not None
        # The terms are what members legally agree to when they share an idea: the server's
        # owners decide them (Manage Server), not whoever holds the bot's moderator role.
        if not manages_server(interaction):
            raise UserFacingError(
                _(
                    "Only members with the **Manage Server** permission can set the contribution terms: members "
                    "agree to them when they share ideas. Ask a server admin."
                )
            )
        terms = await self.bot.services.programmes.set_terms(interaction.guild_id, interaction.user.id, text, version)

        def say() -> str:
            text = _(
                "Contribution terms version {version} are in force: members accept them before their next idea."
            ).format(version=terms.version)
            return text

        await self._done(interaction, say, N_("Terms set"))

    @app_commands.command(name="revive", description="Reopen an expired or archived idea; its deadlines restart")
    @app_commands.describe(id="The idea's number")
    async def revive(self, interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
        assert interaction.guild_id is not None
        idea = await self.bot.services.programmes.revive(interaction.guild_id, interaction.user.id, id)

        def say() -> str:
            return _("#{number} is open for votes again. {card_link}").format(
                number=idea.number, card_link=card_link(idea)
            )

        await self._done(interaction, say, N_("Idea revived"))

    @app_commands.command(name="anonymous", description="Allow or forbid anonymous ideas in this server")
    async def anonymous(self, interaction: discord.Interaction, allow: bool) -> None:
        assert interaction.guild_id is not None
        changed = await self.bot.services.programmes.set_anonymous(interaction.guild_id, interaction.user.id, allow)

        def say() -> str:
            if allow:
                text = _("Anonymous ideas are now allowed.") if changed else _("Anonymous ideas are already allowed.")
            else:
                text = (
                    _("Anonymous ideas are now not allowed.")
                    if changed
                    else _("Anonymous ideas are already not allowed.")
                )
            return text

        await self._done(interaction, say, N_("Anonymous ideas"))

    @app_commands.command(name="thresholds", description="Support stages that send ideas to review, e.g. 10/30 25/60")
    @app_commands.describe(
        stages="votes/days per stage, e.g. `10/30 25/60`", archive_days="Archive after this many quiet days"
    )
    async def thresholds(
        self,
        interaction: discord.Interaction,
        stages: str | None = None,
        archive_days: app_commands.Range[int, 1, 3650] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        programme = self.bot.services.programmes
        if stages is not None:
            await programme.set_stages(interaction.guild_id, interaction.user.id, stages)
        if archive_days is not None:
            await programme.set_archive_days(interaction.guild_id, interaction.user.id, archive_days)
        settings = await programme.settings(interaction.guild_id)

        def say() -> str:
            text = _("Support stages: {describe_stages}. Quiet ideas are archived after {archive_days} days.").format(
                describe_stages=describe_stages(settings.stages), archive_days=settings.archive_days
            )
            return text

        await self._done(interaction, say, N_("Thresholds"))

    @app_commands.command(name="limits", description="Cooldown between a member's ideas, and ideas per day")
    @app_commands.describe(
        cooldown_seconds="Seconds a member waits between two ideas (0: none)",
        daily_quota="Ideas a member may submit per 24 hours (0: unlimited)",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        cooldown_seconds: app_commands.Range[int, 0, 86_400],
        daily_quota: app_commands.Range[int, 0, 1_000],
    ) -> None:
        assert interaction.guild_id is not None
        settings = await self.bot.ideas.set_submission_limits(
            interaction.guild_id, interaction.user.id, cooldown_seconds, daily_quota
        )

        def say() -> str:
            quota = settings.daily_submission_quota or _("unlimited")
            text = _("Members wait {submit_cooldown_seconds} s between ideas and may submit {quota} a day.").format(
                submit_cooldown_seconds=settings.submit_cooldown_seconds, quota=quota
            )
            return text

        await self._done(interaction, say, N_("Submission limits"))

    @app_commands.command(name="reputation", description="Show or change how reputation is earned here")
    @app_commands.describe(
        submission_points="Points per submitted idea",
        submissions_per_day="Ideas a day that earn points",
        upvote_points="Points per counted upvote received",
        vote_points_per_day="Cap on vote-earned points a day",
        planned_points="Bonus when an idea is planned",
        implemented_points="Bonus when an idea is implemented",
        min_account_age_days="Votes from younger accounts earn nothing",
        min_member_age_hours="Votes from members who joined more recently earn nothing",
    )
    async def reputation_rules(
        self,
        interaction: discord.Interaction,
        submission_points: app_commands.Range[int, 0, 1000] | None = None,
        submissions_per_day: app_commands.Range[int, 0, 100] | None = None,
        upvote_points: app_commands.Range[int, 0, 1000] | None = None,
        vote_points_per_day: app_commands.Range[int, 0, 100_000] | None = None,
        planned_points: app_commands.Range[int, 0, 10_000] | None = None,
        implemented_points: app_commands.Range[int, 0, 10_000] | None = None,
        min_account_age_days: app_commands.Range[int, 0, 3650] | None = None,
        min_member_age_hours: app_commands.Range[int, 0, 87_600] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        given = {
            "submission_points": submission_points,
            "submissions_per_day": submissions_per_day,
            "upvote_points": upvote_points,
            "vote_points_per_day": vote_points_per_day,
            "planned_points": planned_points,
            "implemented_points": implemented_points,
            "min_account_age_days": min_account_age_days,
            "min_member_age_hours": min_member_age_hours,
        }
        changes = {name: value for name, value in given.items() if value is not None}
        service = self.bot.services.reputation
        rules = (
            await service.set_rules(interaction.guild_id, **changes)
            if changes
            else await service.rules(interaction.guild_id)
        )

        def say() -> str:
            return _("Reputation rules: ") + ", ".join(f"{name} = {getattr(rules, name)}" for name in RULE_OPTIONS)

        if changes:
            await self._done(interaction, say, N_("Reputation rules"))
        else:
            await interaction.response.send_message(say(), ephemeral=True, allowed_mentions=NO_MENTIONS)

    # Reward roles: the work is in cogs/reputation.py and the reputation service.
    role = app_commands.Group(name="role", description="Roles members earn with reputation")

    @role.command(name="add", description="Give a role to members who reach a number of points")
    @app_commands.describe(role="The role to give", points="Reputation needed to get it")
    @app_commands.check(moderator_only)
    async def role_add(
        self, interaction: discord.Interaction, role: discord.Role, points: app_commands.Range[int, 0, 1_000_000]
    ) -> None:
        await self._done(interaction, await add_reward_role(self.bot, interaction, role, points), N_("Reward role set"))

    @role.command(name="remove", description="Stop giving a role for reputation")
    @app_commands.check(moderator_only)
    async def role_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await self._done(interaction, await remove_reward_role(self.bot, interaction, role), N_("Reward role removed"))

    webhook = app_commands.Group(name="webhook", description="Signed HTTP notifications to the firm's tools")

    @webhook.command(name="add", description="Send events to this URL, signed (the secret is shown once)")
    @app_commands.describe(url="An https:// URL", events=f"Space-separated, default all: {' '.join(WEBHOOK_EVENTS)}")
    async def webhook_add(
        self,
        interaction: discord.Interaction,
        url: app_commands.Range[str, 1, 500],
        events: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        secret, names = await self.bot.services.webhooks.add(interaction.guild_id, interaction.user.id, url, events)
        await reply(
            interaction,
            _(
                "Webhook added for {join}.\nSigning secret (shown only now, keep it safe): `{secret}`\nEach request "
                "carries `X-Ideabot-Signature: sha256=<HMAC-SHA256 of the body>`."
            ).format(join=", ".join(names), secret=secret),
        )
        await self.bot.modlog.record(
            interaction.guild_id, interaction.user.id, lambda: _("Webhook added"), ", ".join(names)
        )

    @webhook.command(name="remove", description="Stop sending events to this URL")
    @app_commands.describe(url="The URL as listed")
    async def webhook_remove(self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 500]) -> None:
        assert interaction.guild_id is not None
        await self.bot.services.webhooks.remove(interaction.guild_id, url)
        await reply(interaction, _("Webhook removed; its undelivered events are dropped."))
        await self.bot.modlog.record(interaction.guild_id, interaction.user.id, lambda: _("Webhook removed"), "")

    @webhook.command(name="list", description="The webhooks of this server")
    async def webhook_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        hooks = await self.bot.services.webhooks.list(interaction.guild_id)
        lines = [
            f"• `{hook.url}`: {' '.join(hook.events)}" + (_(" (disabled: failing)") if hook.disabled_at else "")
            for hook in hooks
        ]
        await reply(interaction, "\n".join(lines) if lines else _("No webhooks yet: `/ideamod webhook add url`."))


async def setup(bot: IdeaBot) -> None:
    await bot.add_cog(Moderation(bot))
