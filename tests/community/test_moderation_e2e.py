"""End-to-end: moderators move ideas through their lifecycle; everyone involved hears about it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.testing import Community


def fields_of(c: Community, number: int) -> dict[str, str]:
    return {f["name"]: f["value"] for f in c.card(number).embeds[0]["fields"]}


async def test_status_change_tells_author_and_supporters_with_the_reason(community: Community) -> None:
    c = community
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.bob.react(card, "👍")
    await c.carol.react(card, "👍")
    await c.dave.react(card, "👎")
    c.guild.member("carol").target.dms_open = False  # carol's DMs are closed
    await c.settle()
    reply = await c.mod.run("/ideamod status", id=1, status="planned", reason="Shipping in Q1", channel=c.general)
    assert reply.ephemeral and "Planned" in reply.text
    await c.settle()
    assert fields_of(c, 1)["Status"] == "Planned: Shipping in Q1"
    for member in (c.alice, c.bob):
        dms = c.emu.dms_to(member)
        assert dms, f"{member.name} got no DM"
        embed = dms[-1].embeds[0]
        assert "Planned" in embed["description"]
        assert any(f["value"] == "Shipping in Q1" for f in embed["fields"])
    assert c.emu.dms_to(c.dave) == []  # down-voters are not told
    assert c.emu.dms_to(c.carol) == []
    thread = c.emu.thread_of(card)
    assert thread is not None
    texts = [m.content for m in thread.messages]
    assert any(str(c.carol.id) in text for text in texts), "carol is pointed to the thread instead"
    history = await c.bot.ideas.history((await c.bot.ideas.get(c.guild.id, 1)).id)
    assert [(h["old_status"], h["new_status"], h["reason"]) for h in history] == [("open", "planned", "Shipping in Q1")]
    log = c.emu.messages_in(c.log)
    assert any("Status changed" in m.embeds[0]["title"] for m in log if m.embeds)


async def test_declining_needs_a_reason(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    reply = await c.mod.run("/ideamod status", id=1, status="declined", channel=c.general)
    assert reply.ephemeral and "needs a reason" in reply.text
    assert (await c.bot.ideas.get(c.guild.id, 1)).status.value == "open"
    ok = await c.mod.run("/ideamod status", id=1, status="declined", reason="Out of scope", channel=c.general)
    assert "Declined" in ok.text


async def test_merge_moves_votes_without_double_counting(community: Community) -> None:
    c = community
    original = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    duplicate = await c.submit(c.bob, title="Night theme", details="Please add a night theme")
    await c.carol.react(original, "👍")
    await c.carol.react(duplicate, "👍")  # voted on both: counts once after the merge
    await c.dave.react(duplicate, "👍")
    await c.erin.react(duplicate, "👎")
    await c.alice.react(duplicate, "👍")  # the target's author: never counts on their own idea
    await c.settle()
    reply = await c.mod.run("/ideamod merge", source=2, target=1, channel=c.general)
    assert "merged into #1" in reply.text
    await c.settle()
    target = await c.bot.ideas.get(c.guild.id, 1)
    source = await c.bot.ideas.get(c.guild.id, 2)
    assert (target.upvotes, target.downvotes) == (2, 1)  # carol once, dave, erin's 👎
    assert (source.upvotes, source.downvotes) == (0, 0)
    assert source.status.value == "duplicate" and source.merged_into == target.id
    assert target.coauthor_ids == [c.bob.id]
    assert str(c.bob.id) in fields_of(c, 1)["Author"]
    assert fields_of(c, 2)["Status"] == "Duplicate: Merged into #1"
    # The moved votes have no reactions on #1's card; a recount after downtime keeps them.
    await c.bot.votes.recount_recent(c.bot.reaction_reader, c.clock() - timedelta(days=1))
    target = await c.bot.ideas.get(c.guild.id, 1)
    assert (target.upvotes, target.downvotes) == (2, 1)
    # ...until the member reacts on the target card, when the reaction decides.
    await c.dave.react(original, "👎")
    await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 1)).downvotes == 2
    # Votes on the merged duplicate no longer count.
    await c.frank.react(duplicate, "👍")
    await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 2)).upvotes == 0


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("/ideamod status", {"id": 1, "status": "planned"}),
        ("/ideamod merge", {"source": 1, "target": 2}),
        ("/ideamod block", {"member": "bob"}),
        ("/ideamod unblock", {"member": "bob"}),
        ("/ideamod setup", {"ideas_channel": "general", "digest_channel": "general"}),
    ],
)
async def test_moderator_commands_are_refused_to_members(community: Community, command: str, options: dict) -> None:
    c = community
    await c.submit(c.alice, title="First idea", details="details for the first")
    await c.submit(c.bob, title="Second idea", details="details for the second")
    resolved = {
        key: (c.guild.member(value) if key == "member" else c.guild.channel(value) if "channel" in key else value)
        for key, value in options.items()
    }
    async with c.db.conn.execute("SELECT COUNT(*) FROM audit_log") as cursor:
        before = (await cursor.fetchone())[0]
    reply = await c.erin.run(command, channel=c.general, **resolved)
    assert reply.ephemeral and "for moderators" in reply.text
    async with c.db.conn.execute("SELECT COUNT(*) FROM audit_log") as cursor:
        assert (await cursor.fetchone())[0] == before
    assert (await c.bot.ideas.get(c.guild.id, 1)).status.value == "open"
    assert (await c.bot.ideas.settings(c.guild.id)).ideas_channel_id == c.ideas.id


async def test_the_configured_moderator_role_may_moderate(community: Community) -> None:
    c = community
    helpers = await c.create_role("Helpers")
    await c.mod.run(
        "/ideamod setup",
        ideas_channel=c.ideas,
        digest_channel=c.digest,
        log_channel=c.log,
        moderator_role=helpers,
        channel=c.general,
    )
    await c.submit(c.alice, title="First idea", details="details for the first")
    refused = await c.grace.run("/ideamod status", id=1, status="planned", channel=c.general)
    assert "for moderators" in refused.text
    await c.guild.set_roles(c.grace, [helpers])
    allowed = await c.grace.run("/ideamod status", id=1, status="planned", channel=c.general)
    assert "Planned" in allowed.text
