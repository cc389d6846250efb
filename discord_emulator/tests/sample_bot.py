"""A small real discord.py bot (a slash command, a modal, a button, reaction listeners) for
testing the emulator with, and a helper that runs it against an emulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import discord
from discord import app_commands
from discord.ext import commands

from discord_emulator import DiscordEmulator


@dataclass
class Recorder:
    """What the test bot saw."""

    raw_adds: list[discord.RawReactionActionEvent] = field(default_factory=list)
    raw_removes: list[discord.RawReactionActionEvent] = field(default_factory=list)
    ready: int = 0
    resumed: int = 0
    errors: list[BaseException] = field(default_factory=list)


class IdeaModal(discord.ui.Modal, title="New idea"):
    idea_title: discord.ui.TextInput[IdeaModal] = discord.ui.TextInput(label="Title", custom_id="title", max_length=80)
    problem: discord.ui.TextInput[IdeaModal] = discord.ui.TextInput(
        label="Problem", custom_id="problem", style=discord.TextStyle.paragraph
    )
    who: discord.ui.Label[IdeaModal] = discord.ui.Label(
        text="Who benefits", component=discord.ui.TextInput(custom_id="who", required=False)
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.who.component, discord.ui.TextInput)
        text = f"Got {self.idea_title.value} / {self.problem.value} / {self.who.component.value or '-'}"
        await interaction.response.send_message(text, ephemeral=True)


class SupportView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Support", custom_id="support", style=discord.ButtonStyle.success)
    async def support(self, interaction: discord.Interaction, button: discord.ui.Button[SupportView]) -> None:
        await interaction.response.edit_message(content=f"Supported by {interaction.user.name}")

    @discord.ui.button(label="Details", custom_id="details")
    async def details(self, interaction: discord.Interaction, button: discord.ui.Button[SupportView]) -> None:
        await interaction.response.send_message("Here are the details", ephemeral=True)


def build_bot(recorder: Recorder, *, intents: discord.Intents | None = None) -> commands.Bot:
    if intents is None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05, help_command=None)
    idea = app_commands.Group(name="idea", description="Ideas")
    admin = app_commands.Group(name="admin", description="Admin", parent=idea)

    @idea.command(name="submit", description="Submit an idea")
    async def submit(interaction: discord.Interaction, title: str | None = None, details: str | None = None) -> None:
        if title is None:
            await interaction.response.send_modal(IdeaModal())
            return
        embed = discord.Embed(title=f"#1 {title}", description=details or "")
        await interaction.response.send_message(
            f"Submitted {title}", embed=embed, view=SupportView(), allowed_mentions=discord.AllowedMentions.none()
        )

    @idea.command(name="secret", description="Ephemeral answer")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("only you", ephemeral=True)

    @idea.command(name="slow", description="Deferred answer")
    async def slow(interaction: discord.Interaction, hidden: bool = False) -> None:
        await interaction.response.defer(thinking=True, ephemeral=hidden)
        await asyncio.sleep(0.02)
        await interaction.followup.send("done after thinking")

    @idea.command(name="sleepy", description="Answers too late")
    async def sleepy(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        try:
            await interaction.response.send_message("late")
        except discord.HTTPException as error:
            recorder.errors.append(error)

    @admin.command(name="about", description="Options of every kind")
    async def about(
        interaction: discord.Interaction,
        member: discord.Member,
        role: discord.Role,
        channel: discord.TextChannel,
        count: int,
        ratio: float = 1.0,
        loud: bool = False,
    ) -> None:
        text = f"{member.name} {role.name} {channel.name} {count} {ratio} {loud} {len(member.roles)}"
        await interaction.response.send_message(text)

    bot.tree.add_command(idea)

    @bot.event
    async def setup_hook() -> None:
        bot.add_view(SupportView())
        await bot.tree.sync()

    async def identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py's documented hook; its default sleeps 5 s before every re-IDENTIFY."""

    bot.before_identify_hook = identify_at_once  # type: ignore[method-assign]

    @bot.event
    async def on_ready() -> None:
        recorder.ready += 1

    @bot.event
    async def on_resumed() -> None:
        recorder.resumed += 1

    @bot.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        recorder.raw_adds.append(payload)

    @bot.event
    async def on_raw_reaction_remove(payload: discord.RawReactionActionEvent) -> None:
        recorder.raw_removes.append(payload)

    return bot


BotFactory = Callable[..., "contextlib.AbstractAsyncContextManager[commands.Bot]"]


@contextlib.asynccontextmanager
async def running(bot: commands.Bot, emu: DiscordEmulator) -> AsyncIterator[commands.Bot]:
    async with bot:
        task = asyncio.create_task(bot.start(emu.token))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), timeout=5)
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=2)
