"""/idea: submit (options or a guided modal), show, top, search, mine, edit, withdraw."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import IdeaBot, answer_error, is_moderator
from bot.edge.embeds import NO_MENTIONS
from bot.i18n import _
from bot.ideas.ranking import Period, Sort
from bot.ideas.render import card_link, idea_detail_embed, idea_list_embed, search_results_embed
from bot.ideas.rules import DETAILS_MAX, MODAL_FIELD_MAX, TITLE_MAX, IdeaDraft, Status, compose_details, validate_draft
from bot.search.rules import SearchFilters


@dataclass(slots=True)
class PendingSubmission:
    """A validated draft on its way through the submission gates (terms, duplicates, ...)."""

    guild_id: int
    author_id: int
    draft: IdeaDraft
    options: dict[str, Any] = field(default_factory=dict)


# A gate may answer the interaction itself and return False to stop the submission here;
# it then calls `resume(new_interaction)` later (e.g. from a button) to carry on.
Resume = Callable[[discord.Interaction], Awaitable[None]]
SubmissionGate = Callable[[discord.Interaction, PendingSubmission, Resume], Awaitable[bool]]


class SubmitIdeaModal(discord.ui.Modal, title="Submit an idea"):
    def __init__(self, cog: Ideas, options: dict[str, Any]) -> None:
        # Built here, not as class attributes, so the labels are in the member's language.
        super().__init__(title=_("Submit an idea"))
        self.idea_title: discord.ui.TextInput[SubmitIdeaModal] = discord.ui.TextInput(
            label=_("Title"), placeholder=_("A short name for your idea"), max_length=TITLE_MAX, min_length=4
        )
        self.problem: discord.ui.TextInput[SubmitIdeaModal] = discord.ui.TextInput(
            label=_("Problem"),
            placeholder=_("What is hard, slow or missing today?"),
            style=discord.TextStyle.paragraph,
            max_length=MODAL_FIELD_MAX,
        )
        self.proposal: discord.ui.TextInput[SubmitIdeaModal] = discord.ui.TextInput(
            label=_("Proposal"),
            placeholder=_("What should change? Be concrete."),
            style=discord.TextStyle.paragraph,
            max_length=MODAL_FIELD_MAX,
        )
        self.who_benefits: discord.ui.TextInput[SubmitIdeaModal] = discord.ui.TextInput(
            label=_("Who benefits"),
            placeholder=_("Who gains, and how much?"),
            style=discord.TextStyle.paragraph,
            max_length=MODAL_FIELD_MAX,
            required=False,
        )
        for item in (self.idea_title, self.problem, self.proposal, self.who_benefits):
            self.add_item(item)
        self.cog = cog
        self.options = options

    async def on_submit(self, interaction: discord.Interaction) -> None:
        details = compose_details(self.problem.value, self.proposal.value, self.who_benefits.value)
        await self.cog.start_submission(interaction, self.idea_title.value, details, self.options)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:  # type: ignore[override]
        await answer_error(interaction, error)


class EditIdeaModal(discord.ui.Modal, title="Edit your idea"):
    def __init__(self, cog: Ideas, number: int, title: str, details: str) -> None:
        super().__init__(title=_("Edit idea #{number}").format(number=number))
        self.cog = cog
        self.number = number
        self.idea_title: discord.ui.TextInput[EditIdeaModal] = discord.ui.TextInput(
            label=_("Title"), default=title, max_length=TITLE_MAX, min_length=4
        )
        self.details: discord.ui.TextInput[EditIdeaModal] = discord.ui.TextInput(
            label=_("Details"), default=details[:DETAILS_MAX], style=discord.TextStyle.paragraph, max_length=DETAILS_MAX
        )
        self.add_item(self.idea_title)
        self.add_item(self.details)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        idea = await self.cog.bot.ideas.edit(
            interaction.guild_id, interaction.user.id, self.number, self.idea_title.value, self.details.value
        )
        await interaction.response.send_message(
            _("Idea #{number} updated: {card_link}").format(number=idea.number, card_link=card_link(idea)),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:  # type: ignore[override]
        await answer_error(interaction, error)


@app_commands.guild_only()
class Ideas(commands.GroupCog, group_name="idea", group_description="Share and find ideas"):
    def __init__(self, bot: IdeaBot) -> None:
        self.bot = bot
        super().__init__()

    # --- submitting --------------------------------------------------------------------

    def gates(self) -> list[SubmissionGate]:
        gates: list[SubmissionGate] = self.bot.submission_gates
        return gates

    async def start_submission(
        self, interaction: discord.Interaction, title: str, details: str, options: dict[str, Any]
    ) -> None:
        assert interaction.guild_id is not None
        draft = validate_draft(title, details, options.get("category"))
        # Acknowledge before any database work: under a vote burst the checks and gates below can
        # take longer than Discord's 3 s; every later answer is a follow-up.
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.ideas.check_can_submit(interaction.guild_id, interaction.user.id)
        pending = PendingSubmission(interaction.guild_id, interaction.user.id, draft, options)
        await self._through_gates(interaction, pending, 0)

    async def continue_submission(
        self, interaction: discord.Interaction, pending: PendingSubmission, after_gate: SubmissionGate
    ) -> None:
        """Carry on with the gates after `after_gate`: for a gate whose in-memory `resume` is gone
        (the bot restarted between its question and the member's answer)."""
        gates = self.gates()
        start = gates.index(after_gate) + 1 if after_gate in gates else len(gates)
        await self._through_gates(interaction, pending, start)

    async def _through_gates(self, interaction: discord.Interaction, pending: PendingSubmission, start: int) -> None:
        gates = self.gates()
        for index in range(start, len(gates)):

            async def resume(next_interaction: discord.Interaction, after: int = index + 1) -> None:
                try:
                    await self._through_gates(next_interaction, pending, after)
                except Exception as exc:
                    await answer_error(next_interaction, exc)

            if not await gates[index](interaction, pending, resume):
                return
        await self._post(interaction, pending)

    async def _post(self, interaction: discord.Interaction, pending: PendingSubmission) -> None:
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        challenge_id = pending.options.get("challenge_id")
        if challenge_id is not None:
            # It may have closed while the member read the terms.
            await self.bot.services.programmes.check_challenge_open(challenge_id)
        idea = await self.bot.ideas.submit(
            pending.guild_id,
            pending.author_id,
            pending.draft.title,
            pending.draft.details,
            pending.draft.category,
            challenge_id=challenge_id,
            anonymous=bool(pending.options.get("anonymous", False)),
            terms_version=pending.options.get("terms_version"),
        )
        await interaction.followup.send(
            _(
                "Your idea **#{number}** is posted: {card_link}\nMembers vote with 👍 / 👎 on the card; discuss it in "
                "its thread."
            ).format(number=idea.number, card_link=card_link(idea)),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="submit", description="Submit an idea (leave the options empty for a guided form)")
    @app_commands.describe(
        title="A short name for your idea",
        details="What and why, concretely",
        category="A category, e.g. UX",
        challenge="The number of the challenge this idea answers (see /challenge list)",
        anonymous="Hide your name on the card (where the server allows it; moderators still see it)",
    )
    async def submit(
        self,
        interaction: discord.Interaction,
        title: str | None = None,
        details: str | None = None,
        category: str | None = None,
        challenge: app_commands.Range[int, 1] | None = None,
        anonymous: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        options: dict[str, Any] = {"category": category}
        if challenge is not None or anonymous:
            programme = self.bot.services.programmes
            options.update(await programme.submission_options(interaction.guild_id, challenge, anonymous))
        if title is None or details is None:
            # Refuse early (blocked, cooldown, not set up) rather than after the member typed.
            await self.bot.ideas.check_can_submit(interaction.guild_id, interaction.user.id)
            await interaction.response.send_modal(SubmitIdeaModal(self, options))
            return
        await self.start_submission(interaction, title, details, options)

    # --- reading -----------------------------------------------------------------------

    @app_commands.command(name="show", description="Show one idea with its history")
    @app_commands.describe(id="The idea's number, e.g. 12")
    async def show(self, interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
        assert interaction.guild_id is not None
        idea = await self.bot.ideas.get(interaction.guild_id, id)
        history = await self.bot.ideas.history(idea.id)
        # Who is behind an anonymous idea is known to moderators (this reply is ephemeral).
        reveal = is_moderator(interaction, (await self.bot.ideas.settings(interaction.guild_id)).moderator_role_id)
        await interaction.response.send_message(
            embed=idea_detail_embed(idea, history, reveal_author=reveal), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="top", description="The community's favourite ideas")
    @app_commands.describe(sort="How to rank (default: best)", period="Ideas submitted within (default: all)")
    async def top(self, interaction: discord.Interaction, sort: Sort = Sort.BEST, period: Period = Period.ALL) -> None:
        assert interaction.guild_id is not None
        ideas = await self.bot.ideas.top(interaction.guild_id, sort, period)
        when = {Period.ALL: _("all time"), Period.WEEK: _("this week"), Period.MONTH: _("this month")}[period]
        heading = _("Top ideas · {sort} · {when}").format(sort=sort.value, when=when)
        await interaction.response.send_message(
            embed=idea_list_embed(heading, ideas, _("No ideas yet: be the first with /idea submit.")),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="search", description="Find ideas by words in their title or details, best match first")
    @app_commands.describe(
        query="Words to look for (word forms count: 'recycling' finds 'recycle')",
        status="Only ideas with this status",
        category="Only ideas in this category",
        page="Which page of results (5 per page)",
    )
    @app_commands.choices(status=[app_commands.Choice(name=s.label, value=s.value) for s in Status])
    async def search(
        self,
        interaction: discord.Interaction,
        query: str,
        status: app_commands.Choice[str] | None = None,
        category: str | None = None,
        page: app_commands.Range[int, 1, 1000] = 1,
    ) -> None:
        assert interaction.guild_id is not None
        filters = SearchFilters(Status(status.value) if status else None, category.strip() if category else None)
        results = await self.bot.ideas.search(interaction.guild_id, query, filters, page)
        await interaction.response.send_message(
            embed=search_results_embed(query, results), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="mine", description="Your ideas and where they stand")
    async def mine(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        ideas = await self.bot.ideas.mine(interaction.guild_id, interaction.user.id)
        await interaction.response.send_message(
            embed=idea_list_embed(_("Your ideas"), ideas, _("You have not submitted an idea yet.")),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # --- the author's changes ------------------------------------------------------------

    @app_commands.command(name="edit", description="Edit the title or details of your idea")
    async def edit(self, interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
        assert interaction.guild_id is not None
        idea = await self.bot.ideas.check_can_edit(interaction.guild_id, interaction.user.id, id)
        await interaction.response.send_modal(EditIdeaModal(self, idea.number, idea.title, idea.body))

    @app_commands.command(name="withdraw", description="Withdraw your idea (voting closes)")
    async def withdraw(self, interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
        assert interaction.guild_id is not None
        idea = await self.bot.ideas.withdraw(interaction.guild_id, interaction.user.id, id)
        await interaction.response.send_message(
            _("Idea #{number} is withdrawn. Thank you for sharing it.").format(number=idea.number), ephemeral=True
        )


async def setup(bot: IdeaBot) -> None:
    await bot.add_cog(Ideas(bot))
