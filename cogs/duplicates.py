"""The duplicate warning at submit time: a submission gate that shows similar ideas already on the
board, with persistent buttons ("Support #N instead", "Post anyway"); and embedding new ideas for
the check by meaning."""

from __future__ import annotations

import logging
import re
from typing import Any

import discord
from discord.ext import commands

from bot.client import HELD_DRAFT_ID, IdeaBot, answer_error, parse_id
from bot.core.errors import UserFacingError
from bot.edge.embeds import NO_MENTIONS
from bot.events.types import IdeaSubmitted
from bot.i18n import _
from bot.ideas.rules import IdeaDraft
from bot.search.duplicates import DuplicateService, SimilarIdea
from cogs.ideas import Ideas, PendingSubmission, Resume

log = logging.getLogger(__name__)

COG_NAME = "Duplicates"


class DuplicateButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    # Loose on purpose: a malformed id still reaches from_custom_id and gets a clear answer
    # instead of an interaction nobody answers.
    template=r"ideabot:dup:(?P<action>[^:]*):(?P<pid>[^:]*)(?::(?P<idea>[^:]*))?",
):
    """Survives restarts: everything it needs is in its custom_id and the held draft's row."""

    def __init__(self, action: str, pending_id: str, idea_id: int | None = None, number: int | None = None) -> None:
        custom_id = f"ideabot:dup:{action}:{pending_id}" + (f":{idea_id}" if idea_id is not None else "")
        if action == "support":
            label, style = (
                _("Support #{number} instead").format(number=number) if number else _("Support it instead"),
                discord.ButtonStyle.primary,
            )
        else:
            label, style = _("Post anyway"), discord.ButtonStyle.secondary
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=custom_id))
        self.action = action
        self.pending_id = pending_id
        self.idea_id = idea_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> DuplicateButton:
        action, pid, idea = match.group("action"), match.group("pid"), match.group("idea")
        if action not in ("support", "post") or not HELD_DRAFT_ID.fullmatch(pid):
            pid = ""  # names no draft: the callback says it is no longer waiting
        return cls(action, pid, parse_id(idea) if idea is not None else None)

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog(COG_NAME) if isinstance(interaction.client, commands.Bot) else None
        try:
            if not isinstance(cog, Duplicates):
                raise UserFacingError(_("This button is not available right now; please submit again."))
            if self.action == "support" and self.idea_id is not None:
                await cog.support_instead(interaction, self.pending_id, self.idea_id)
            else:
                await cog.post_anyway(interaction, self.pending_id)
        except Exception as exc:
            await answer_error(interaction, exc)


def similar_embed(matches: list[SimilarIdea]) -> discord.Embed:
    lines = [
        _("**#{number}** {title} · 👍 {upvotes} · {percent} similar").format(
            number=m.number,
            title=discord.utils.escape_markdown(m.title),
            upvotes=m.upvotes,
            percent=f"{round(m.score * 100)}%",
        )
        for m in matches
    ]
    embed = discord.Embed(title=_("Similar ideas already exist"), description="\n".join(lines)[:4000], colour=0xFEE75C)
    embed.set_footer(text=_("Supporting an existing idea gathers votes in one place."))
    return embed


class Duplicates(commands.Cog, name=COG_NAME):
    def __init__(self, bot: IdeaBot, duplicates: DuplicateService) -> None:
        self.bot = bot
        self.duplicates = duplicates
        # In-process continuations of held submissions; after a restart the draft is rebuilt.
        self._resumes: dict[str, Resume] = {}

    async def cog_unload(self) -> None:
        if self.duplicate_gate in self.bot.submission_gates:
            self.bot.submission_gates.remove(self.duplicate_gate)
        self.bot.remove_dynamic_items(DuplicateButton)

    async def duplicate_gate(
        self, interaction: discord.Interaction, pending: PendingSubmission, resume: Resume
    ) -> bool:
        # The check may wait on embeddings or scan a large board: acknowledge within Discord's 3 s.
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            matches = await self.duplicates.find_similar(pending.guild_id, pending.draft.title, pending.draft.details)
        except Exception:
            log.exception("duplicate check failed; letting the submission through")
            return True
        if not matches:
            return True
        pending_id = await self.duplicates.hold(pending.guild_id, pending.author_id, pending.draft, pending.options)
        self._resumes[pending_id] = resume
        view = discord.ui.View(timeout=None)
        for match in matches:
            view.add_item(DuplicateButton("support", pending_id, match.idea_id, match.number))
        view.add_item(DuplicateButton("post", pending_id))
        await interaction.followup.send(
            _("Your idea looks like one that is already on the board. Support it instead, or post yours anyway."),
            embed=similar_embed(matches),
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        return False

    async def support_instead(self, interaction: discord.Interaction, pending_id: str, idea_id: int) -> None:
        assert interaction.guild_id is not None
        joined_at = interaction.user.joined_at if isinstance(interaction.user, discord.Member) else None
        support = await self.duplicates.support(
            interaction.guild_id, interaction.user.id, idea_id, joined_at, pending_id=pending_id
        )
        self._resumes.pop(pending_id, None)
        idea = support.idea
        text = (
            _(
                "Thank you: your support for **#{number}** is recorded (👍 {upvotes}). Your draft was not posted."
            ).format(number=idea.number, upvotes=idea.upvotes)
            if support.changed
            else _("You already support **#{number}**. Your draft was not posted.").format(number=idea.number)
        )
        if support.replaced == -1:
            text += _(" It replaces your 👎 vote: that reaction stays on the card but no longer counts.")
        await interaction.response.edit_message(content=text, embed=None, view=None, allowed_mentions=NO_MENTIONS)

    async def post_anyway(self, interaction: discord.Interaction, pending_id: str) -> None:
        held = await self.duplicates.take(pending_id, interaction.user.id)
        resume = self._resumes.pop(pending_id, None)
        if resume is not None:
            await resume(interaction)
            return
        # After a restart the in-memory continuation is gone: rebuild the submission from the
        # stored draft and carry on with the gates after this one.
        ideas_cog = self.bot.get_cog("Ideas")
        pending = PendingSubmission(
            held.guild_id, held.author_id, IdeaDraft(held.title, held.details, held.category), dict(held.options)
        )
        if not isinstance(ideas_cog, Ideas):
            raise UserFacingError(_("Submitting is not available right now; please try again in a moment."))
        await ideas_cog.continue_submission(interaction, pending, self.duplicate_gate)


async def setup(bot: IdeaBot) -> None:
    duplicates = bot.services.duplicates
    bot.events.subscribe(IdeaSubmitted, duplicates.embed_new_idea)
    cog = Duplicates(bot, duplicates)
    bot.add_dynamic_items(DuplicateButton)
    bot.submission_gates.append(cog.duplicate_gate)
    await bot.add_cog(cog)
