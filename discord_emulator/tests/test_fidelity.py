"""The real discord.py client against the emulator: login, commands, modals, buttons, reactions."""

from __future__ import annotations

import asyncio

import discord
import pytest
from discord.ext import commands
from sample_bot import Recorder

from discord_emulator import DiscordEmulator, InteractionError, StoryGuild


async def test_ready_guild_create_and_sync(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    cached = bot.get_guild(guild.id)
    assert cached is not None
    assert cached.get_channel(guild.channel("#ideas").id) is not None
    assert cached.me.get_role(guild.bot_role.id) is not None
    assert cached.me.guild_permissions.manage_roles
    assert bot.application_id == emu.application_id
    assert [c.name for c in emu.world.global_commands] == ["idea"]
    assert emu.requests_to("PUT", "/applications/{application_id}/commands")
    assert emu.spec_violations == []


async def test_public_reply_creates_a_channel_message(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot
) -> None:
    alice = guild.member("alice")
    reply = await alice.run("/idea submit", title="Dark mode", details="Please")
    assert reply.content == "Submitted Dark mode"
    assert reply.embeds[0]["title"] == "#1 Dark mode"
    assert not reply.ephemeral
    assert reply.message is not None
    assert emu.messages_in("#ideas")[-1] is reply.message
    assert reply.message.author_id == emu.bot_user.id
    assert reply.message.allowed_mentions == {"parse": []}
    assert [b["custom_id"] for b in reply.message.buttons()] == ["support", "details"]
    assert emu.spec_violations == []


async def test_ephemeral_reply_is_not_in_the_channel(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot
) -> None:
    reply = await guild.member("alice").run("/idea secret")
    assert reply.content == "only you"
    assert reply.ephemeral
    assert emu.messages_in("#ideas") == []


@pytest.mark.parametrize("hidden", [False, True])
async def test_defer_then_follow_up(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot, hidden: bool) -> None:
    reply = await guild.member("alice").run("/idea slow", hidden=hidden)
    assert reply.deferred
    assert reply.content == "done after thinking"
    assert reply.ephemeral is hidden
    assert len(emu.messages_in("#ideas")) == (0 if hidden else 1)
    assert emu.spec_violations == []


async def test_modal_round_trip(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    alice = guild.member("alice")
    reply = await alice.run("/idea submit")
    assert reply.modal is not None and reply.modal["title"] == "New idea"
    answer = await alice.submit_modal(reply, title="Dark mode", problem="Too bright", who="night owls")
    assert answer.content == "Got Dark mode / Too bright / night owls"
    assert answer.ephemeral
    with pytest.raises(InteractionError, match="no field"):
        await alice.submit_modal(reply, title="x", problem="y", nonsense="z")
    with pytest.raises(InteractionError, match="required"):
        await alice.submit_modal(reply, title="x")
    assert emu.spec_violations == []


async def test_button_click_updates_the_message(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    alice, bob = guild.member("alice"), guild.member("bob")
    card = (await alice.run("/idea submit", title="Dark mode", details="Please")).message
    assert card is not None
    clicked = await bob.click(card, label="Support")
    assert clicked.message is card
    assert card.content == "Supported by bob"
    assert card.edits == 1
    details = await bob.click(card, custom_id="details")
    assert details.ephemeral and details.content == "Here are the details"
    assert emu.spec_violations == []


async def test_options_of_every_type_are_resolved(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    moderators = guild.role("Moderators")
    carol = guild.add_member("carol", roles=[moderators])
    # `channel=` picks where the command runs, so an option named "channel" goes through options=.
    reply = await guild.member("alice").run(
        "/idea admin about",
        member=carol,
        role=moderators,
        options={"channel": guild.channel("#digest")},
        count=3,
        loud=True,
    )
    assert reply.content == "carol Moderators digest 3 1.0 True 2"
    with pytest.raises(InteractionError, match="no option"):
        await carol.run("/idea submit", titel="typo")
    with pytest.raises(InteractionError, match="no synced command"):
        await carol.run("/nope")
    with pytest.raises(InteractionError, match="takes an integer"):
        await carol.run(
            "/idea admin about", member=carol, role=moderators, options={"channel": guild.channel("#ideas")}, count="3"
        )


async def test_raw_reaction_events(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot, recorder: Recorder
) -> None:
    card = (await guild.member("alice").run("/idea submit", title="Dark mode", details="x")).message
    assert card is not None
    bob = guild.member("bob")
    await bob.react(card, "👍")
    await bob.unreact(card, "👍")
    await emu.wait_for(lambda: recorder.raw_adds and recorder.raw_removes, timeout=2)
    added = recorder.raw_adds[0]
    assert (added.user_id, added.message_id, added.channel_id, added.guild_id) == (
        bob.id,
        card.id,
        card.channel_id,
        guild.id,
    )
    assert added.emoji.name == "👍" and added.emoji.id is None
    assert added.member is not None and added.member.name == "bob"
    assert added.message_author_id == emu.bot_user.id
    assert added.type is discord.ReactionType.normal and not added.burst
    assert recorder.raw_removes[0].user_id == bob.id
    assert emu.reactions_on(card, "👍") == []


async def test_bot_edits_and_reacts(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot, recorder: Recorder
) -> None:
    channel = bot.get_channel(guild.channel("#ideas").id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("card v1", allowed_mentions=discord.AllowedMentions.none())
    await sent.add_reaction("👍")
    await sent.add_reaction("👎")
    edited = await sent.edit(content="card v2", embed=discord.Embed(title="#1 Dark mode", description="👍 1 👎 0"))
    stored = emu.message(sent.id)
    assert stored.content == edited.content == "card v2"
    assert stored.edits == 1 and stored.edited_at is not None
    assert emu.reactions_on(stored, "👍") == [emu.bot_user.id]
    await emu.wait_for(lambda: len(recorder.raw_adds) == 2, timeout=2)  # the bot hears its own reactions
    fetched = await channel.fetch_message(sent.id)
    assert [str(r.emoji) for r in fetched.reactions] == ["👍", "👎"] and fetched.reactions[0].me
    thread = await sent.create_thread(name="Discuss #1")
    assert emu.thread_of(stored) is not None and emu.thread_of(stored).id == thread.id  # type: ignore[union-attr]
    await thread.send("first!")
    assert [m.content for m in emu.messages_in(thread.id)] == ["first!"]
    await sent.delete()
    assert emu.messages_in("#ideas") == []
    assert emu.spec_violations == []


async def test_reaction_users_paginate_in_pages_of_100(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot
) -> None:
    channel = bot.get_channel(guild.channel("#ideas").id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("card")
    card = emu.message(sent.id)
    for number in range(250):
        card.reactions.setdefault("👍", []).append(guild.add_member(f"voter{number}").id)
    fetched = await channel.fetch_message(sent.id)
    users = [u async for u in fetched.reactions[0].users(limit=None)]
    assert sorted(u.id for u in users) == emu.reactions_on(card, "👍")  # discord.py reverses each page
    assert len(users) == 250
    pages = emu.requests_to("GET", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}")
    assert len(pages) == 3
    assert emu.spec_violations == []


async def test_unknown_ids_answer_discord_errors(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    with pytest.raises(discord.NotFound) as missing_channel:
        await bot.http.get_message(1, 2)
    assert missing_channel.value.code == 10003
    with pytest.raises(discord.NotFound) as missing_message:
        await bot.http.get_message(guild.channel("#ideas").id, 2)
    assert missing_message.value.code == 10008
    with pytest.raises(discord.NotFound) as missing_member:
        await bot.http.get_member(guild.id, 5)
    assert missing_member.value.code == 10007
    assert emu.spec_violations == []


async def test_role_hierarchy_is_enforced(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    alice = guild.member("alice")
    helper = guild.create_role("Helper")  # goes just below the bot's role
    above = guild.create_role("Boss", position=guild.bot_role.target.position + 1)
    await bot.http.add_role(guild.id, alice.id, helper.id)
    assert alice.has_role(helper)
    with pytest.raises(discord.Forbidden) as denied:
        await bot.http.add_role(guild.id, alice.id, above.id)
    assert denied.value.code == 50013
    await bot.http.remove_role(guild.id, alice.id, helper.id)
    assert not alice.has_role(helper)
    with pytest.raises(discord.NotFound) as unknown_role:
        await bot.http.add_role(guild.id, alice.id, 12345)
    assert unknown_role.value.code == 10011


async def test_closed_dms_are_refused(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    open_member = guild.add_member("dora")
    closed_member = guild.add_member("eve", dms_open=False)
    user = await bot.fetch_user(open_member.id)
    await user.send("hello dora")
    assert [m.content for m in emu.dms_to(open_member)] == ["hello dora"]
    closed = await bot.fetch_user(closed_member.id)
    with pytest.raises(discord.Forbidden) as denied:
        await closed.send("hello eve")
    assert denied.value.code == 50007


async def test_late_answers_get_unknown_interaction(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot, recorder: Recorder
) -> None:
    emu.interaction_ack_timeout = 0.1
    with pytest.raises(AssertionError, match="did not answer"):
        await guild.member("alice").run("/idea sleepy", timeout=0.5)
    await emu.wait_for(lambda: recorder.errors, timeout=2)
    assert isinstance(recorder.errors[0], discord.NotFound) and recorder.errors[0].code == 10062


async def test_second_callback_is_rejected(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    reply = await guild.member("alice").run("/idea secret")
    pending = emu.interactions[reply.interaction_id]
    route = discord.http.Route("POST", "/interactions/{i}/{t}/callback", i=pending.id, t=pending.token)
    with pytest.raises(discord.HTTPException) as again:
        await bot.http.request(route, json={"type": 4, "data": {"content": "twice"}})
    assert again.value.status == 400 and again.value.code == 40060


async def test_unknown_route_is_a_spec_violation(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    with pytest.raises(discord.NotFound):
        await bot.http.request(discord.http.Route("GET", "/nothing/here"))
    assert any("/nothing/here" in v for v in emu.spec_violations)


async def test_intents_filter_dispatches(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    await guild.member("alice").say("hello")
    await guild.add_member_live("carol")
    await asyncio.sleep(0.05)
    sent_events = {frame["t"] for frame in emu.gateway.sent}
    assert "MESSAGE_CREATE" not in sent_events  # no GUILD_MESSAGES intent
    assert "GUILD_MEMBER_ADD" not in sent_events  # no GUILD_MEMBERS intent
    assert {"READY", "GUILD_CREATE"} <= sent_events
