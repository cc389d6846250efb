"""Authorisation by Discord's own rules, through the emulator: a member whose only power is the
bot's moderator role (a role with no Discord permissions) cannot reach, through the bot, what
Discord itself would not let them do: hand out roles that carry power over the server, give roles
above their own, change who the moderators are or where the log (which names anonymous authors)
goes, or act on members above them."""

from __future__ import annotations

import pytest
from discord_emulator.state import (
    ADMINISTRATOR,
    MANAGE_CHANNELS,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    MANAGE_ROLES,
)

from bot.reputation.service import ReputationService
from bot.testing import Community, events_delivered
from discord_emulator import StoryMember, StoryRole

CRASH = "something went wrong"
ROLE_ROUTE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
MENTION_EVERYONE = 1 << 17
MANAGE_WEBHOOKS = 1 << 29
MODERATE_MEMBERS = 1 << 40


@pytest.fixture
async def rep(community: Community) -> ReputationService:
    service = community.bot.services.reputation
    service.role_delay = 0.05
    return service


async def helper_moderator(c: Community) -> tuple[StoryMember, StoryRole]:
    """A member whose only power is the configured moderator role: it has no Discord permissions
    and sits just below the fixture's Moderators role (Manage Server)."""
    helpers = await live_role(c, "Helpers", position=below(c, c.mod_role))
    reply = await c.mod.run(
        "/ideamod setup",
        ideas_channel=c.ideas,
        digest_channel=c.digest,
        log_channel=c.log,
        moderator_role=helpers,
        channel=c.general,
    )
    assert "Set up" in reply.text, reply.text
    helper = c.guild.add_member("helper", roles=[helpers])
    return helper, helpers


def below(c: Community, role: StoryRole) -> int:
    """A position just below `role`: a role created there is one its holders may give."""
    return role.target.position


async def live_role(c: Community, name: str, *, permissions: int = 0, position: int | None = None) -> StoryRole:
    """A role created while the bot runs (Discord sends GUILD_ROLE_CREATE and the moved roles)."""
    role = await c.guild.create_role_live(name, permissions=permissions, position=position)
    await events_delivered(c.bot, c.emu)
    return role


async def test_a_role_with_power_over_the_server_is_never_a_reward_role(
    community: Community, rep: ReputationService
) -> None:
    c = community
    helper, helpers = await helper_moderator(c)
    dangerous = {
        "Administrator": ADMINISTRATOR,
        "Manage Server": MANAGE_GUILD,
        "Manage Roles": MANAGE_ROLES,
        "Manage Channels": MANAGE_CHANNELS,
        "Manage Webhooks": MANAGE_WEBHOOKS,
        "Kick Members": KICK_MEMBERS,
        "Ban Members": BAN_MEMBERS,
        "Timeout Members": MODERATE_MEMBERS,
        "Mention @everyone": MENTION_EVERYONE,
        "Manage Messages": MANAGE_MESSAGES,
    }
    for name, permission in dangerous.items():
        role = await live_role(c, f"Power {name}", permissions=permission, position=below(c, helpers))
        for who in (helper, c.mod, c.guild.member("owner")):
            reply = await who.run("/ideamod role add", role=role, points=1, channel=c.general)
            assert reply.ephemeral and CRASH not in reply.text.lower(), reply.text
            assert "may not have" in reply.text and name in reply.text, reply.text
    assert await rep.reward_roles(c.guild.id) == []

    # The attack from the report: one submission later, nobody holds anything.
    await c.submit(helper, title="Dark mode", details="A dark theme for late-night work")
    await c.settle()
    await rep.wait_idle()
    assert c.emu.requests_to("PUT", ROLE_ROUTE) == []
    assert [r.name for r in helper.roles] == ["Helpers"]


async def test_a_moderator_can_only_reward_roles_below_their_own(community: Community, rep: ReputationService) -> None:
    c = community
    helper, helpers = await helper_moderator(c)
    above = await live_role(c, "Veteran")  # created after Helpers: above it, below the bot
    assert above.target.position > helpers.target.position
    refused = await helper.run("/ideamod role add", role=above, points=5, channel=c.general)
    assert refused.ephemeral and "not below your highest role" in refused.text, refused.text
    level = await helper.run("/ideamod role add", role=helpers, points=5, channel=c.general)
    assert "not below your highest role" in level.text, level.text
    assert await rep.reward_roles(c.guild.id) == []
    # The owner is above every role; a role below the helper's own is fine for the helper.
    owner = c.guild.member("owner")
    assert "reward role" in (await owner.run("/ideamod role add", role=above, points=5, channel=c.general)).text
    low = await live_role(c, "Contributor", position=below(c, helpers))
    accepted = await helper.run("/ideamod role add", role=low, points=2, channel=c.general)
    assert "is now a reward role" in accepted.text, accepted.text
    # Removing a role the helper could not give is refused as well.
    remove = await helper.run("/ideamod role remove", role=above, channel=c.general)
    assert "not below your highest role" in remove.text
    assert sorted(r.role_id for r in await rep.reward_roles(c.guild.id)) == sorted([above.id, low.id])
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")  # 2 points
    await c.settle()
    await rep.wait_idle()
    assert c.alice.has_role(low) and not c.alice.has_role(above)


async def test_a_reward_role_that_gains_power_later_is_no_longer_given(
    community: Community, rep: ReputationService
) -> None:
    c = community
    role = await live_role(c, "Contributor", position=below(c, c.mod_role))
    reply = await c.mod.run("/ideamod role add", role=role, points=2, channel=c.general)
    assert "is now a reward role" in reply.text, reply.text
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.settle()
    await rep.wait_idle()
    assert c.alice.has_role(role)
    # An admin (or a compromised account) gives the role Administrator in Server Settings.
    await c.guild.update_role_live(role, permissions=ADMINISTRATOR)
    await events_delivered(c.bot, c.emu)
    await c.submit(c.bob, title="Light mode", details="A light theme for the daytime")
    await c.submit(c.carol, title="Big fonts", details="Larger fonts for reading")
    await c.settle()
    await rep.wait_idle()
    assert not c.bob.has_role(role) and not c.carol.has_role(role)
    puts = c.emu.requests_to("PUT", ROLE_ROUTE, role_id=str(role.id))
    assert [p.params["user_id"] for p in puts] == [str(c.alice.id)]
    notes = [m for m in c.emu.messages_in(c.log) if m.embeds and m.embeds[0]["title"] == "Reward role not given"]
    assert len(notes) == 1  # once per role, not once per member
    text = notes[0].embeds[0]["description"]
    assert "Administrator" in text and f"<@&{role.id}>" in text
    assert notes[0].allowed_mentions is not None and notes[0].allowed_mentions.get("parse") == []
    # Made safe again, it is given again.
    await c.guild.update_role_live(role, permissions=0)
    await events_delivered(c.bot, c.emu)
    await rep.reconcile_guild(c.guild.id)
    await rep.wait_idle()
    assert c.bob.has_role(role) and c.carol.has_role(role)


async def test_only_manage_server_sets_up_the_bot(community: Community) -> None:
    c = community
    helper, _ = await helper_moderator(c)
    before = await c.bot.ideas.settings(c.guild.id)
    # The helper may moderate, but not point the log (anonymous authors) at a public channel,
    # nor change who the moderators are.
    for options in (
        {"log_channel": c.general},
        {"log_channel": c.log, "moderator_role": c.guild.everyone},
        {"log_channel": c.log, "moderator_role": c.mod_role},
    ):
        reply = await helper.run(
            "/ideamod setup", ideas_channel=c.ideas, digest_channel=c.digest, channel=c.general, **options
        )
        assert reply.ephemeral and "Manage Server" in reply.text, reply.text
    assert await c.bot.ideas.settings(c.guild.id) == before
    # Manage Server still may not make @everyone, or a role an integration manages, the moderators.
    for role in (c.guild.everyone, c.guild.bot_role):
        reply = await c.mod.run(
            "/ideamod setup", ideas_channel=c.ideas, digest_channel=c.digest, moderator_role=role, channel=c.general
        )
        assert reply.ephemeral and "cannot be the moderator role" in reply.text, reply.text
    assert await c.bot.ideas.settings(c.guild.id) == before
    still = await c.alice.run("/ideamod queue", channel=c.general)
    assert "for moderators" in still.text


async def test_a_moderator_cannot_block_members_above_them(community: Community) -> None:
    c = community
    helper, helpers = await helper_moderator(c)
    peer = c.guild.add_member("peer", roles=[helpers])
    for target in (c.mod, c.guild.member("owner"), peer):
        reply = await helper.run("/ideamod block", member=target, channel=c.general)
        assert reply.ephemeral and "below you" in reply.text, reply.text
    blocked = await helper.run("/ideamod block", member=c.alice, channel=c.general)
    assert "can no longer submit" in blocked.text
    assert "can no longer submit" in (await c.mod.run("/ideamod block", member=peer, channel=c.general)).text
    refused = await c.alice.run("/idea submit", title="Dark mode", details="A dark theme please", channel=c.general)
    assert refused.ephemeral and c.cards() == []


async def test_setup_only_points_at_channels_the_moderator_can_see(community: Community) -> None:
    c = community
    staff = c.guild.create_role("Staff")
    hidden = c.guild.create_text_channel("staff-room", visible_to=[staff])
    await c.emu.dispatch("CHANNEL_CREATE", c.emu.world.channel_payload(hidden.target))  # as Discord does
    await events_delivered(c.bot, c.emu)
    before = await c.bot.ideas.settings(c.guild.id)
    for options in ({"ideas_channel": hidden}, {"digest_channel": hidden}, {"log_channel": hidden}):
        values = {"ideas_channel": c.ideas, "digest_channel": c.digest, "log_channel": c.log} | options
        reply = await c.mod.run("/ideamod setup", channel=c.general, **values)
        assert reply.ephemeral and "You cannot see" in reply.text and f"<#{hidden.id}>" in reply.text, reply.text
    assert await c.bot.ideas.settings(c.guild.id) == before
    # The owner sees every channel.
    owner = c.guild.member("owner")
    done = await owner.run(
        "/ideamod setup", ideas_channel=c.ideas, digest_channel=c.digest, log_channel=hidden, channel=c.general
    )
    assert "Set up" in done.text and "Everyone can read" not in done.text, done.text
    # A log channel everyone can read is allowed, with a warning: the log names anonymous authors.
    public = await c.mod.run(
        "/ideamod setup", ideas_channel=c.ideas, digest_channel=c.digest, log_channel=c.general, channel=c.general
    )
    assert "Set up" in public.text and "Everyone can read" in public.text, public.text


async def test_flipping_a_status_does_not_turn_the_bot_into_a_mass_dm_channel(community: Community) -> None:
    c = community
    helper, _ = await helper_moderator(c)
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    supporters = [c.bob, c.carol, c.dave]
    for member in supporters:
        await member.react(card, "👍")
    await c.settle()
    for status in ("planned", "open", "planned", "open", "planned", "in_progress"):
        reply = await helper.run("/ideamod status", id=1, status=status, reason="Spam me", channel=c.general)
        assert "is now" in reply.text, reply.text
        await c.settle()
    for member in supporters:
        assert len(c.emu.dms_to(member)) == 2, "planned once, in progress once"
    assert len(c.emu.dms_to(c.alice)) == 6  # the author hears about every decision
    thread = c.emu.thread_of(card)
    assert thread is not None and len([m for m in thread.messages if m.embeds]) >= 6


async def test_only_manage_server_sets_the_contribution_terms(community: Community) -> None:
    c = community
    helper, _ = await helper_moderator(c)
    text = "Ideas you share become the property of the helper."
    refused = await helper.run("/ideamod terms set", text=text, version="evil-1", channel=c.general)
    assert refused.ephemeral and "Manage Server" in refused.text, refused.text
    posted = await c.alice.run("/idea submit", title="Dark mode", details="A dark theme please", channel=c.general)
    assert "is posted" in posted.text and "property" not in posted.text, posted.text
    done = await c.mod.run("/ideamod terms set", text="Ideas you share are CC-BY 4.0.", version="1", channel=c.general)
    assert "version 1" in done.text, done.text
