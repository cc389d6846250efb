"""End-to-end: the duplicate warning at submit time and its two buttons, through the emulator."""

from __future__ import annotations

from datetime import timedelta

from bot.testing import Community


async def count_ideas(c: Community) -> int:
    async with c.db.conn.execute("SELECT COUNT(*) FROM ideas") as cursor:
        row = await cursor.fetchone()
    return int(row[0])


async def test_similar_idea_warns_and_support_instead_records_a_vote(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode for the dashboard", details="A dark theme for the dashboard at night")
    await c.submit(c.carol, title="Export reports to CSV", details="Download the monthly report as a CSV file")
    reply = await c.bob.run(
        "/idea submit",
        title="Night theme for the dashboard",
        details="Please give the dashboard a dark colour scheme for late work",
        channel=c.general,
    )
    assert reply.ephemeral and "already on the board" in reply.text
    assert "#1" in reply.embeds[0]["description"] and "#2" not in reply.embeds[0]["description"]
    labels = [b["label"] for row in reply.components for b in row["components"]]
    assert labels == ["Support #1 instead", "Post anyway"]
    assert await count_ideas(c) == 2  # nothing posted yet
    # Only the author of the draft may use its buttons.
    other = await c.dave.click(reply, label="Support #1 instead")
    assert other.ephemeral and "belong to the member" in other.text
    done = await c.bob.click(reply, label="Support #1 instead")
    assert "support for **#1** is recorded" in done.text
    await c.settle()
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert idea.upvotes == 1 and await count_ideas(c) == 2
    fields = {f["name"]: f["value"] for f in c.card(1).embeds[0]["fields"]}
    assert "👍 1" in fields["Votes"]
    assert reply.message is not None and reply.message.components == []  # the buttons are gone
    async with c.db.conn.execute("SELECT COUNT(*) FROM vote_effects") as cursor:
        assert (await cursor.fetchone())[0] == 0  # type: ignore[index]  # its credit is written and its row consumed
    # No reaction stands behind that vote; a recount after downtime must keep it all the same.
    await c.bot.votes.recount_recent(c.bot.reaction_reader, c.clock() - timedelta(days=1))
    assert (await c.bot.ideas.get(c.guild.id, 1)).upvotes == 1


async def test_post_anyway_posts_the_draft_even_after_a_restart(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode for the dashboard", details="A dark theme for the dashboard at night")
    first = await c.bob.run(
        "/idea submit", title="Dark dashboard theme", details="A dark theme for the dashboard please", channel=c.general
    )
    posted = await c.bob.click(first, label="Post anyway")
    assert "#2" in posted.text
    assert c.card(2).embeds[0]["title"] == "#2 Dark dashboard theme"
    c.clock.advance(minutes=5)
    second = await c.carol.run(
        "/idea submit",
        title="Dashboard in dark mode",
        details="Dark mode for the dashboard at night",
        channel=c.general,
    )
    assert "already on the board" in second.text
    # A restart forgets the in-memory continuation; the stored draft and the custom_id remain.
    cog = c.bot.get_cog("Duplicates")
    assert cog is not None
    cog._resumes.clear()  # type: ignore[attr-defined]
    posted = await c.carol.click(second, label="Post anyway")
    assert "#3" in posted.text
    assert c.card(3).embeds[0]["title"] == "#3 Dashboard in dark mode"


async def test_distinct_idea_is_posted_without_a_warning(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode for the dashboard", details="A dark theme for the dashboard at night")
    reply = await c.bob.run(
        "/idea submit", title="Export to CSV", details="Download the report as a CSV file", channel=c.general
    )
    assert "#2" in reply.text and reply.components == []
