"""Uploads, webhook edits, DM interactions and intent-dependent events."""

from __future__ import annotations

import asyncio
import io

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from sample_bot import Recorder, build_bot, running

from discord_emulator import DiscordEmulator, InteractionError, StoryGuild


async def test_file_uploads_are_stored(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    channel = bot.get_channel(guild.channel("#digest").id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("weekly digest", file=discord.File(io.BytesIO(b"# Week 1\n"), filename="digest.md"))
    stored = emu.message(sent.id)
    assert [(a.filename, a.data) for a in stored.attachments] == [("digest.md", b"# Week 1\n")]
    assert sent.attachments[0].filename == "digest.md" and sent.attachments[0].size == 9
    assert await sent.attachments[0].read() == b"# Week 1\n"
    edited = await sent.edit(content="weekly digest (fixed)", attachments=[])
    assert edited.attachments == [] and emu.message(sent.id).attachments == []
    assert emu.spec_violations == []


async def test_original_response_and_followups_can_be_edited(
    emu: DiscordEmulator, guild: StoryGuild, recorder: Recorder
) -> None:
    bot = build_bot(recorder)
    done = asyncio.Event()

    @bot.tree.command(name="progress", description="Edits its answer")
    async def progress(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("step 1")
        await interaction.edit_original_response(content="step 2")
        note = await interaction.followup.send("note", ephemeral=True, wait=True)
        await note.edit(content="note (edited)")
        original = await interaction.original_response()
        assert original.content == "step 2"
        done.set()

    async with running(bot, emu):
        reply = await guild.member("alice").run("/progress")
        await asyncio.wait_for(done.wait(), timeout=2)
    assert reply.message is not None and reply.message.content == "step 2" and reply.message.edits == 1
    assert [(m.content, m.ephemeral) for m in reply.followups] == [("note (edited)", True)]
    assert [m.content for m in emu.messages_in("#ideas")] == ["step 2"]
    assert emu.spec_violations == []


async def test_interaction_in_a_dm(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    alice = guild.member("alice")
    reply = await alice.run("/idea secret", channel=emu.dm_channel(alice))
    assert reply.content == "only you"


async def test_member_events_and_message_content_need_their_intents(
    emu: DiscordEmulator, guild: StoryGuild, recorder: Recorder
) -> None:
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = False
    bot = build_bot(recorder, intents=intents)
    joined: list[discord.Member] = []
    updated: list[tuple[discord.Member, discord.Member]] = []
    messages: list[discord.Message] = []

    async def on_member_join(member: discord.Member) -> None:
        joined.append(member)

    async def on_member_update(before: discord.Member, after: discord.Member) -> None:
        updated.append((before, after))

    async def on_message(message: discord.Message) -> None:
        messages.append(message)

    for listener in (on_member_join, on_member_update, on_message):
        bot.add_listener(listener)
    async with running(bot, emu):
        carol = await guild.add_member_live("carol")
        await emu.wait_for(lambda: joined, timeout=2)
        await bot.http.add_role(guild.id, carol.id, guild.role("Moderators").id)
        await emu.wait_for(lambda: updated, timeout=2)
        await carol.say("secret sauce", channel="#ideas")
        await emu.wait_for(lambda: messages, timeout=2)
    assert joined[0].id == carol.id
    assert [r.name for r in updated[0][1].roles] == ["@everyone", "Moderators"]
    assert messages[0].content == ""  # no MESSAGE_CONTENT intent


async def test_guild_commands_and_choices(emu: DiscordEmulator, guild: StoryGuild, recorder: Recorder) -> None:
    bot = build_bot(recorder)

    @bot.tree.command(name="top", description="Top ideas", guild=discord.Object(guild.id))
    @app_commands.choices(sort=[app_commands.Choice(name=n, value=n) for n in ("best", "hot", "new")])
    async def top(interaction: discord.Interaction, sort: app_commands.Choice[str]) -> None:
        await interaction.response.send_message(f"sorted by {sort.value}")

    original_setup = bot.setup_hook

    async def setup_hook() -> None:
        await original_setup()
        await bot.tree.sync(guild=discord.Object(guild.id))

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    async with running(bot, emu):
        reply = await guild.member("alice").run("/top", sort="hot")
        assert reply.content == "sorted by hot"
        with pytest.raises(InteractionError, match="must be one of"):
            await guild.member("alice").run("/top", sort="cold")
    assert emu.spec_violations == []


async def test_locales_and_localised_commands(emu: DiscordEmulator, guild: StoryGuild, recorder: Recorder) -> None:
    """Interactions carry the member's and the guild's locale; a guild has a preferred locale;
    commands synced with name and description localisations keep them."""
    bot = build_bot(recorder)
    seen: list[tuple[str, str | None]] = []

    @bot.tree.command(name="hello", description="Says hello")
    async def hello(interaction: discord.Interaction) -> None:
        seen.append((interaction.locale.value, interaction.guild_locale.value if interaction.guild_locale else None))
        await interaction.response.send_message("hi", ephemeral=True)

    class German(app_commands.Translator):
        async def translate(
            self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
        ) -> str | None:
            if locale is not discord.Locale.german:
                return None
            return {"hello": "hallo", "Says hello": "Sagt hallo"}.get(string.message)

    await bot.tree.set_translator(German())
    alice = guild.member("alice")
    alice.locale = "de"
    guild.target.locale = "fr"
    async with running(bot, emu):
        await alice.run("/hello")
        synced = next(c for c in emu.world.global_commands if c.name == "hello").to_payload()
        cached = bot.get_guild(guild.id)
        assert cached is not None and cached.preferred_locale is discord.Locale.french
    assert seen == [("de", "fr")]
    assert synced["name_localizations"] == {"de": "hallo"}
    assert synced["description_localizations"] == {"de": "Sagt hallo"}
    assert emu.spec_violations == []
