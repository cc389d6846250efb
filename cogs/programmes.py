"""Innovation programmes in Discord: the /challenge commands, the contribution-terms gate on
/idea submit (an "I accept" button that survives restarts), announcements in idea threads and
the ideas channel, and the periodic job (expiry, archiving, challenge deadlines)."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import HELD_DRAFT_ID, IdeaBot, answer_error, guild_language
from bot.edge.channels import messageable
from bot.edge.embeds import NO_MENTIONS
from bot.i18n import _, use
from bot.ideas.rules import Idea
from bot.programmes.render import (
    challenge_closed_embed,
    challenge_list_embed,
    challenge_opened_embed,
    idea_expired_embed,
    stage_reached_embed,
    terms_embed,
)
from bot.programmes.rules import Stage
from bot.programmes.service import ChallengeResult, ProgrammeService
from bot.programmes.storage import Challenge
from cogs.moderation import moderator_only

if TYPE_CHECKING:
    from cogs.ideas import PendingSubmission, Resume

log = logging.getLogger(__name__)

# How often the periodic job looks at deadlines (expiry, archiving, challenges).
TICK_SECONDS = 60.0
PROGRAMME_JOB = "programmes:tick"


class DiscordAnnouncer:
    """Implements the service's ProgrammeAnnouncer port with discord.py."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def _send(self, channel_id: int | None, embed: discord.Embed, nonce: str | None = None) -> None:
        if channel_id is None:
            return
        try:
            channel = await messageable(self.client, channel_id)
            if channel is not None:
                if nonce is None:
                    await channel.send(embed=embed, allowed_mentions=NO_MENTIONS)
                else:
                    await channel.send(embed=embed, allowed_mentions=NO_MENTIONS, nonce=nonce)
        except discord.HTTPException as exc:
            log.warning("could not announce in channel %s: %r", channel_id, exc)

    async def stage_reached(self, idea: Idea, stage: Stage, upcoming: Stage | None) -> None:
        # Repeated after a crash: the nonce lets Discord drop a send it already took.
        nonce = "s" + hashlib.blake2b(f"stage:{idea.id}:{stage.number}".encode(), digest_size=12).hexdigest()
        with use(await guild_language(self.client, idea.guild_id)):
            embed = stage_reached_embed(idea, stage, upcoming)
        await self._send(idea.thread_id, embed, nonce)

    async def idea_expired(self, idea: Idea, missed: Stage) -> None:
        with use(await guild_language(self.client, idea.guild_id)):
            embed = idea_expired_embed(idea, missed)
        await self._send(idea.thread_id, embed)

    async def challenge_opened(self, challenge: Challenge, channel_id: int) -> None:
        with use(await guild_language(self.client, challenge.guild_id)):
            embed = challenge_opened_embed(challenge)
        await self._send(channel_id, embed)

    async def challenge_closed(self, result: ChallengeResult, channel_id: int) -> None:
        with use(await guild_language(self.client, result.challenge.guild_id)):
            embed = challenge_closed_embed(result.challenge, result.winners, result.entries)
        await self._send(channel_id, embed)


class AcceptTermsButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"ideabot:terms:(?P<draft>[^:]*)"):
    """The "I accept" button. Everything it needs is in the database, keyed by the draft id in its
    custom_id, so a click after a restart still records consent and posts the idea."""

    def __init__(self, draft_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("I accept"), style=discord.ButtonStyle.success, custom_id=f"ideabot:terms:{draft_id}"
            )
        )
        self.draft_id = draft_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> AcceptTermsButton:
        # A malformed id becomes "", which names no draft: a clear answer follows.
        draft_id = match["draft"]
        return cls(draft_id if HELD_DRAFT_ID.fullmatch(draft_id) else "")

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        cog = client.get_cog("Programmes") if isinstance(client, commands.Bot) else None
        try:
            if not isinstance(cog, Programmes):
                raise RuntimeError("the programmes cog is not loaded")
            await cog.accepted(interaction, self.draft_id)
        except Exception as exc:
            await answer_error(interaction, exc)


class TermsGate:
    """The first submission gate: members accept the guild's current contribution terms once per
    version; every idea records the version it was submitted under."""

    def __init__(self, service: ProgrammeService) -> None:
        self.service = service
        # Waiting drafts of this process: draft id -> (pending submission, resume). After a
        # restart this is empty and the draft is rebuilt from the database instead.
        self.waiting: dict[str, tuple[PendingSubmission, Resume]] = {}

    async def __call__(self, interaction: discord.Interaction, pending: PendingSubmission, resume: Resume) -> bool:
        terms = await self.service.terms(pending.guild_id)
        if terms is None:
            return True
        if await self.service.terms_to_accept(pending.guild_id, pending.author_id) is None:
            pending.options["terms_version"] = terms.version
            return True
        draft_id = await self.service.hold_draft(
            pending.guild_id, pending.author_id, terms.version, pending.draft, pending.options
        )
        self.waiting[draft_id] = (pending, resume)
        view = discord.ui.View(timeout=None)
        view.add_item(AcceptTermsButton(draft_id))
        embed = terms_embed(terms.text, terms.version)
        if interaction.response.is_done():
            await interaction.followup.send(embed=embed, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.send_message(
                embed=embed, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
        return False


@app_commands.guild_only()
class Programmes(commands.GroupCog, group_name="challenge", group_description="Idea challenges with a deadline"):
    def __init__(self, bot: IdeaBot, service: ProgrammeService, gate: TermsGate) -> None:
        self.bot = bot
        self.service = service
        self.gate = gate
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.jobs.every(PROGRAMME_JOB, TICK_SECONDS, self._tick, now=True)

    async def cog_unload(self) -> None:
        self.bot.jobs.remove(PROGRAMME_JOB)
        self.bot.remove_dynamic_items(AcceptTermsButton)
        if self.gate in self.bot.submission_gates:
            self.bot.submission_gates.remove(self.gate)

    async def _tick(self) -> None:
        await self.bot.wait_until_ready()
        await self.service.tick(self.bot.clock())

    # --- terms ------------------------------------------------------------------------------

    async def accepted(self, interaction: discord.Interaction, draft_id: str) -> None:
        draft = await self.service.accept_held_draft(draft_id, interaction.user.id)
        waiting = self.gate.waiting.pop(draft_id, None)
        current = await self.service.terms(draft.guild_id)
        if waiting is not None and current is not None and current.version == draft.terms_version:
            pending, resume = waiting
            pending.options["terms_version"] = draft.terms_version
            await resume(interaction)
            return
        # After a restart (or if the terms changed meanwhile): submit the stored draft from the top.
        ideas = self.bot.get_cog("Ideas")
        start = getattr(ideas, "start_submission", None)
        if start is None:
            raise RuntimeError("the ideas cog is not loaded")
        options = {**draft.options, "category": draft.category}
        options.pop("terms_version", None)
        await start(interaction, draft.title, draft.details, options)

    # --- /challenge ---------------------------------------------------------------------------

    async def _moderator(self, interaction: discord.Interaction) -> None:
        await moderator_only(interaction)

    @app_commands.command(name="open", description="Open a challenge: a brief, a deadline, maybe an award")
    @app_commands.describe(
        title="A short name for the challenge",
        brief="What ideas you are looking for",
        deadline="YYYY-MM-DD or YYYY-MM-DD HH:MM, in UTC",
        award="What the winners get (optional)",
    )
    async def open_challenge(
        self, interaction: discord.Interaction, title: str, brief: str, deadline: str, award: str | None = None
    ) -> None:
        assert interaction.guild_id is not None
        await self._moderator(interaction)
        challenge = await self.service.open_challenge(
            interaction.guild_id, interaction.user.id, title, brief, deadline, award
        )

        def say() -> str:
            return _(
                "Challenge **#{number}** is open until {deadline:%Y-%m-%d %H:%M} UTC. Members submit with `/idea "
                "submit challenge:{number}`."
            ).format(number=challenge.number, deadline=challenge.deadline)

        await interaction.response.send_message(say(), ephemeral=True, allowed_mentions=NO_MENTIONS)
        await self.bot.modlog.record(interaction.guild_id, interaction.user.id, lambda: _("Challenge opened"), say)

    @app_commands.command(name="close", description="Close a challenge on or after its deadline; winners are announced")
    @app_commands.describe(id="The challenge's number, e.g. 1")
    async def close_challenge(self, interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
        assert interaction.guild_id is not None
        await self._moderator(interaction)
        result = await self.service.close_challenge(interaction.guild_id, interaction.user.id, id)

        def say() -> str:
            places = ", ".join(f"#{idea.number}" for __, idea in result.winners) or _("no winner (no upvoted entry)")
            return _("Challenge #{number} is closed: {places}. The results are in the ideas channel.").format(
                number=result.challenge.number, places=places
            )

        await interaction.response.send_message(say(), ephemeral=True, allowed_mentions=NO_MENTIONS)
        await self.bot.modlog.record(interaction.guild_id, interaction.user.id, lambda: _("Challenge closed"), say)

    @app_commands.command(name="list", description="Open and recent challenges")
    async def list_challenges(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        challenges = await self.service.list_challenges(interaction.guild_id)
        await interaction.response.send_message(
            embed=challenge_list_embed(challenges, self.bot.clock()), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: IdeaBot) -> None:
    service = bot.services.programmes
    service.subscribe()
    bot.startup_repairs.append(service.finish_crossings)
    gate = TermsGate(service)
    # Terms come first: nothing else (e.g. duplicate detection) should run before consent.
    bot.submission_gates.insert(0, gate)
    bot.add_dynamic_items(AcceptTermsButton)
    await bot.add_cog(Programmes(bot, service, gate))
