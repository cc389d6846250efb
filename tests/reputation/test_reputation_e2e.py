"""End-to-end: reputation through the emulator: reward roles given and taken back by REST,
untrusted and serial votes earning nothing, refused roles explained to moderators,
leaderboards that match the ledger, and the thank-you in the idea's thread."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from discord_emulator.state import MANAGE_ROLES

from bot.reputation.service import ReputationService
from bot.testing import Community

ROLE_ROUTE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"


@pytest.fixture
async def rep(community: Community) -> ReputationService:
    service = community.bot.services.reputation
    service.role_delay = 0.05  # coalescing window, short for tests
    return service


async def settle(c: Community, rep: ReputationService) -> None:
    await c.settle()
    await rep.wait_idle()


async def test_a_member_reaching_the_threshold_gets_the_role_and_loses_it_below(
    community: Community, rep: ReputationService
) -> None:
    c = community
    role = c.guild.create_role("Contributor", position=c.mod_role.target.position)  # one the moderator may give
    reply = await c.mod.run("/ideamod role add", role=role, points=5, channel=c.general)
    assert reply.ephemeral and "reward role" in reply.text, reply.text
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")  # +2
    for member in (c.bob, c.carol, c.dave, c.erin):
        await member.react(card, "👍")  # +4: 6 points, one reconciliation after the burst
    await settle(c, rep)
    assert await rep.total(c.guild.id, c.alice.id) == 6
    assert c.alice.has_role(role)
    puts = c.emu.requests_to("PUT", ROLE_ROUTE, user_id=str(c.alice.id), role_id=str(role.id))
    assert len(puts) == 1 and puts[0].status == 204
    for member in (c.bob, c.carol):
        await member.unreact(card, "👍")
    await settle(c, rep)
    assert await rep.total(c.guild.id, c.alice.id) == 4
    assert not c.alice.has_role(role)
    assert len(c.emu.requests_to("DELETE", ROLE_ROUTE, user_id=str(c.alice.id), role_id=str(role.id))) == 1
    awards = [(user, action) for user, _, action, _ in await rep.role_awards(c.guild.id)]
    assert awards == [(c.alice.id, "added"), (c.alice.id, "removed")]
    show = await c.alice.run("/rep show", channel=c.general)
    assert show.ephemeral and "**4** points" in show.text and "1 to go" in show.text, show.text
    assert "Upvote on #1 withdrawn" in show.text


async def test_new_accounts_and_new_members_earn_nothing(community: Community, rep: ReputationService) -> None:
    c = community
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.newbie.react(card, "👍")  # a 2-day-old account
    fresh = c.guild.add_member("fresh", joined_ago=timedelta(minutes=30))
    await fresh.react(card, "👍")  # an old account that joined half an hour ago
    await settle(c, rep)
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert idea.upvotes == 2  # recorded and shown on the card
    assert await rep.total(c.guild.id, c.alice.id) == 2  # the submission only
    await c.bob.react(card, "👍")
    await settle(c, rep)
    assert await rep.total(c.guild.id, c.alice.id) == 3


async def test_serial_voting_earns_nothing_and_is_reported(community: Community, rep: ReputationService) -> None:
    c = community
    topics = ["Dark mode", "Offline sync", "Keyboard shortcuts", "Export to CSV", "Weekly calendar"]
    cards = [await c.submit(c.alice, title=topic, details=f"Please add {topic.lower()} soon") for topic in topics]
    for card in cards:
        await c.bob.react(card, "👍")
    await c.carol.react(cards[0], "👍")  # an honest vote still counts
    await settle(c, rep)
    assert await rep.total(c.guild.id, c.alice.id) == 3 * 2 + 1  # three ideas a day count, one honest vote
    log = [m for m in c.emu.messages_in(c.log) if m.embeds and m.embeds[0]["title"] == "Serial voting detected"]
    assert len(log) == 1
    assert f"<@{c.bob.id}>" in log[0].embeds[0]["description"]
    assert log[0].allowed_mentions is not None and log[0].allowed_mentions.get("parse") == []


async def test_a_role_above_the_bots_is_refused_with_an_explanation(
    community: Community, rep: ReputationService
) -> None:
    c = community
    high = c.guild.create_role("Legend", position=c.guild.bot_role.target.position + 1)
    reply = await c.mod.run("/ideamod role add", role=high, points=10, channel=c.general)
    assert reply.ephemeral and "above" in reply.text and "Drag my role above it" in reply.text, reply.text
    assert await rep.reward_roles(c.guild.id) == []
    denied = await c.alice.run("/ideamod role add", role=high, points=10, channel=c.general)
    assert "moderators" in denied.text


async def test_a_refused_role_change_goes_to_the_log_channel(community: Community, rep: ReputationService) -> None:
    c = community
    role = c.guild.create_role("Contributor", position=c.mod_role.target.position)  # one the moderator may give
    reply = await c.mod.run("/ideamod role add", role=role, points=2, channel=c.general)
    assert "reward role" in reply.text
    c.guild.bot_role.target.permissions &= ~MANAGE_ROLES  # someone took Manage Roles away
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.submit(c.bob, title="Light mode", details="A light theme for the daytime")
    await settle(c, rep)
    assert not c.alice.has_role(role)
    refused = [m for m in c.emu.messages_in(c.log) if m.embeds and m.embeds[0]["title"] == "Reward role refused"]
    assert len(refused) == 1  # once, not once per member
    assert "Manage Roles" in refused[0].embeds[0]["description"]
    assert await rep.role_awards(c.guild.id) == []


async def test_leaderboards_match_the_ledger(community: Community, rep: ReputationService) -> None:
    c = community
    first = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    second = await c.submit(c.bob, title="Offline mode", details="Work without a connection")
    for member in (c.carol, c.dave, c.erin):
        await member.react(first, "👍")
    await c.carol.react(second, "👍")
    await settle(c, rep)
    await rep.award(c.guild.id, c.grace.id, 7, "Won challenge #1", "challenge_win")
    c.clock.advance(days=8)
    await c.submit(c.carol, title="Search box", details="Find ideas by keyword")
    await settle(c, rep)
    async with c.db.conn.execute(
        "SELECT user_id, SUM(delta) FROM reputation_events WHERE guild_id = ? GROUP BY user_id", (c.guild.id,)
    ) as cursor:
        sums = {row[0]: row[1] for row in await cursor.fetchall()}
    assert sums == {c.alice.id: 5, c.bob.id: 3, c.grace.id: 7, c.carol.id: 2}
    top = await c.dave.run("/rep top", period="all", channel=c.general)
    lines = top.embeds[0]["description"].splitlines()
    shown = [tuple(int(n) for n in re.findall(r"<@(\d+)> · \*\*(-?\d+)\*\*", line)[0]) for line in lines]
    assert shown == sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))
    week = await c.dave.run("/rep top", period="week", channel=c.general)
    assert f"<@{c.carol.id}> · **2**" in week.text and str(c.alice.id) not in week.text
    assert top.message is not None and top.message.allowed_mentions == {"parse": []}
    show = await c.dave.run("/rep show", member=c.alice, channel=c.general)
    assert "**5** points" in show.text and "rank #2 of 4" in show.text, show.text


async def test_thank_you_in_the_thread_credits_author_and_coauthors(
    community: Community, rep: ReputationService
) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.submit(c.bob, title="Night theme", details="Same idea: a night theme please")
    await c.mod.run("/ideamod merge", source=2, target=1, channel=c.general)
    reply = await c.mod.run("/ideamod status", id=1, status="planned", channel=c.general)
    assert "Planned" in reply.text
    await settle(c, rep)
    thread = c.emu.thread_of(c.card(1))
    assert thread is not None
    thanks = [m for m in thread.messages if "Thank you" in m.content]
    assert len(thanks) == 1
    assert f"<@{c.alice.id}>" in thanks[0].content and f"<@{c.bob.id}>" in thanks[0].content
    assert thanks[0].allowed_mentions == {"parse": []}
    assert await rep.total(c.guild.id, c.alice.id) == 2 + 10
    assert await rep.total(c.guild.id, c.bob.id) == 2 + 10


async def test_moderators_change_the_reputation_rules_per_guild(community: Community) -> None:
    c = community
    shown = await c.mod.run("/ideamod reputation", channel=c.general)
    assert "submission_points = 2" in shown.text and "upvote_points = 1" in shown.text
    changed = await c.mod.run("/ideamod reputation", submission_points=5, upvote_points=3, channel=c.general)
    assert "submission_points = 5" in changed.text and "upvote_points = 3" in changed.text
    card = await c.submit(c.alice, title="Rules test", details="Points follow the guild's rules")
    await c.bob.react(card, "👍")
    await c.settle()
    await c.bot.services.reputation.wait_idle()
    assert await c.bot.services.reputation.total(c.guild.id, c.alice.id) == 5 + 3
    refused = await c.bob.run("/ideamod reputation", upvote_points=100, channel=c.general)
    assert "for moderators" in refused.text
