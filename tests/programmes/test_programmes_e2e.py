"""End-to-end: innovation programmes through the emulator: support thresholds and expiry with
controlled time, challenges from open to close, contribution terms, archiving, anonymity."""

from __future__ import annotations

from datetime import timedelta

from bot.testing import Community, running_bot
from discord_emulator import Message


def fields_of(message: Message) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


def thread_texts(c: Community, card: Message) -> list[str]:
    thread = c.emu.thread_of(card)
    assert thread is not None
    texts = []
    for message in thread.messages:
        parts = [message.content or ""]
        for embed in message.embeds:
            parts += [str(embed.get("title", "")), str(embed.get("description", ""))]
        texts.append("\n".join(parts))
    return texts


async def tick(c: Community) -> None:
    """The periodic job, at the test's clock."""
    await c.bot.services.programmes.tick(c.clock())
    await c.settle()


async def test_support_threshold_escalates_to_review_and_misses_expire(community: Community) -> None:
    c = community
    reply = await c.mod.run("/ideamod thresholds", stages="3/30 5/60", channel=c.general)
    assert reply.ephemeral and "3 👍 within 30 days, then 5 👍 within 60 days" in reply.text
    popular = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    quiet = await c.submit(c.bob, title="Sound alerts", details="A sound when a build finishes")
    empty = await c.mod.run("/ideamod queue", channel=c.general)
    assert "Nothing is waiting" in empty.text
    c.clock.advance(days=10)
    for member in (c.bob, c.carol):
        await member.react(popular, "👍")
    await c.settle()
    assert fields_of(c.card(1))["Status"] == "Open"
    await c.dave.react(popular, "👍")
    await c.settle()
    # Stage 1 reached within 30 days: under review, announced in the idea's thread, queued.
    assert fields_of(c.card(1))["Status"].startswith("Under review")
    assert any("reached support stage 1" in text for text in thread_texts(c, popular))
    # An automatic change: the author hears by DM, supporters follow it in the thread.
    assert c.emu.dms_to(c.alice) and not c.emu.dms_to(c.bob)
    queue = await c.mod.run("/ideamod queue", channel=c.general)
    assert queue.ephemeral and "#1" in queue.text and "stage 1" in queue.text and "#2" not in queue.text
    async with c.db.conn.execute("SELECT idea_id, stage FROM threshold_crossings") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [(1, 1)]
    members_only = await c.alice.run("/ideamod queue", channel=c.general)
    assert members_only.ephemeral and "for moderators" in members_only.text
    # The quiet idea misses its 30-day deadline and expires; voting on it is closed.
    c.clock.advance(days=21)
    await tick(c)
    assert "expired" in fields_of(c.card(2))["Status"]
    assert "voting closed" in c.card(2).embeds[0]["footer"]["text"]
    assert any("#2 expired" in text for text in thread_texts(c, quiet))
    for member in (c.carol, c.dave, c.erin):
        await member.react(quiet, "👍")
    await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 2)).upvotes == 0
    # A moderator revives it: its support window starts again.
    revived = await c.mod.run("/ideamod revive", id=2, channel=c.general)
    assert "open for votes again" in revived.text
    await c.settle()
    assert "expired" not in fields_of(c.card(2))["Status"]
    for member in (c.frank, c.grace, c.heidi):
        await member.react(quiet, "👍")
    await c.settle()
    assert fields_of(c.card(2))["Status"].startswith("Under review")
    not_expired = await c.mod.run("/ideamod revive", id=1, channel=c.general)
    assert not_expired.ephemeral and "nothing to revive" in not_expired.text


async def test_challenge_from_open_to_close_announces_and_rewards_winners(community: Community) -> None:
    c = community
    deadline = (c.clock() + timedelta(days=7)).strftime("%Y-%m-%d %H:%M")
    refused = await c.alice.run(
        "/challenge open", title="Greener office", brief="Cut our energy use", deadline=deadline, channel=c.general
    )
    assert refused.ephemeral and "for moderators" in refused.text
    bad = await c.mod.run(
        "/challenge open", title="Greener office", brief="Cut our energy use", deadline="next week", channel=c.general
    )
    assert bad.ephemeral and "YYYY-MM-DD" in bad.text
    opened = await c.mod.run(
        "/challenge open",
        title="Greener office",
        brief="Ideas to cut our energy use",
        deadline=deadline,
        award="A day off",
        channel=c.general,
    )
    assert opened.ephemeral and "Challenge **#1** is open" in opened.text
    announcement = c.emu.messages_in(c.ideas)[-1]
    assert announcement.embeds[0]["title"] == "Challenge #1: Greener office"
    assert announcement.allowed_mentions == {"parse": []}
    listed = await c.erin.run("/challenge list", channel=c.general)
    assert "Greener office" in listed.text and "open until" in listed.text
    unknown = await c.alice.run(
        "/idea submit", title="Solar", details="Solar panels on the roof", challenge=9, channel=c.general
    )
    assert unknown.ephemeral and "no challenge #9" in unknown.text
    solar = await c.submit(c.alice, title="Solar panels", details="Solar panels on the roof", challenge=1)
    leds = await c.submit(c.bob, title="LED lights", details="Swap every bulb for LEDs", challenge=1)
    await c.submit(c.carol, title="Not an entry", details="Something else entirely")
    for member in (c.carol, c.dave, c.erin, c.frank):
        await member.react(leds, "👍")
    for member in (c.bob, c.dave):
        await member.react(solar, "👍")
    await c.grace.react(solar, "👎")
    await c.settle()
    early = await c.mod.run("/challenge close", id=1, channel=c.general)
    assert early.ephemeral and "on or after its deadline" in early.text
    c.clock.advance(days=8)
    late = await c.dave.run(
        "/idea submit", title="Too late", details="Submitted after the end", challenge=1, channel=c.general
    )
    assert late.ephemeral and "closed" in late.text
    closed = await c.mod.run("/challenge close", id=1, channel=c.general)
    assert closed.ephemeral and "#2, #1" in closed.text
    results = c.emu.messages_in(c.ideas)[-1]
    assert results.embeds[0]["title"] == "Challenge #1 closed: Greener office"
    lines = results.embeds[0]["description"].splitlines()
    assert "🥇" in lines[1] and "#2" in lines[1] and "🥈" in lines[2] and "#1" in lines[2]
    async with c.db.conn.execute("SELECT place, author_id FROM challenge_winners ORDER BY place") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [(1, c.bob.id), (2, c.alice.id)]
    reputation = c.bot.services.reputation
    wins = [r for r in await reputation.ledger(c.guild.id) if r.source == "challenge_win"]
    assert sorted((r.user_id, r.delta) for r in wins) == sorted([(c.bob.id, 15), (c.alice.id, 10)])
    again = await c.mod.run("/challenge close", id=1, channel=c.general)
    assert "already closed" in again.text


async def test_challenges_close_by_themselves_at_the_deadline(community: Community) -> None:
    c = community
    deadline = (c.clock() + timedelta(days=2)).strftime("%Y-%m-%d")
    await c.mod.run("/challenge open", title="Faster CI", brief="Make the builds faster", deadline=deadline)
    entry = await c.submit(c.alice, title="Cache deps", details="Cache dependencies between runs", challenge=1)
    await c.bob.react(entry, "👍")
    await c.settle()
    c.clock.advance(days=3)
    await tick(c)
    assert c.emu.messages_in(c.ideas)[-1].embeds[0]["title"] == "Challenge #1 closed: Faster CI"
    listed = await c.alice.run("/challenge list", channel=c.general)
    assert "closed" in listed.text


async def test_terms_are_accepted_before_the_first_idea_and_after_a_version_change(community: Community) -> None:
    c = community
    bad = await c.mod.run("/ideamod terms set", text="short", version="1", channel=c.general)
    assert bad.ephemeral and "terms need" in bad.text
    done = await c.mod.run(
        "/ideamod terms set", text="Ideas you share are licensed CC-BY 4.0.", version="2026-1", channel=c.general
    )
    assert "version 2026-1" in done.text
    prompt = await c.alice.run("/idea submit", title="Dark mode", details="A dark theme please", channel=c.general)
    assert prompt.ephemeral and "CC-BY 4.0" in prompt.text and "version 2026-1" in prompt.text
    assert c.cards() == []
    posted = await c.alice.click(prompt, label="I accept")
    assert "#1" in posted.text and posted.ephemeral
    assert len(c.cards()) == 1
    # Accepted once: the next idea goes straight through.
    c.clock.advance(minutes=5)
    second = await c.alice.run("/idea submit", title="Light mode", details="A light theme too", channel=c.general)
    assert "#2" in second.text and "CC-BY" not in second.text
    # A new version must be accepted again.
    await c.mod.run(
        "/ideamod terms set", text="Ideas you share are public domain (CC0).", version="2026-2", channel=c.general
    )
    c.clock.advance(minutes=5)
    again = await c.alice.run("/idea submit", title="Big fonts", details="Larger fonts for reading", channel=c.general)
    assert "CC0" in again.text and len(c.cards()) == 2
    await c.alice.click(again, label="I accept")
    assert len(c.cards()) == 3
    versions = [(i.number, i.terms_version) for i in await c.bot.ideas.mine(c.guild.id, c.alice.id)]
    assert sorted(versions) == [(1, "2026-1"), (2, "2026-1"), (3, "2026-2")]


async def test_the_accept_button_still_works_after_the_bot_forgets_the_draft(community: Community) -> None:
    """A restart loses the in-memory continuation; the draft is kept in the database instead."""
    c = community
    await c.mod.run("/ideamod terms set", text="Ideas you share are licensed CC-BY 4.0.", version="1")
    prompt = await c.bob.run(
        "/idea submit", title="Export CSV", details="Download reports as CSV", category="Data", channel=c.general
    )
    c.bot.get_cog("Programmes").gate.waiting.clear()  # type: ignore[union-attr]
    other = await c.carol.click(prompt, label="I accept")
    assert other.ephemeral and "Only the member" in other.text
    posted = await c.bob.click(prompt, label="I accept")
    assert "#1" in posted.text
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert (idea.title, idea.category, idea.terms_version) == ("Export CSV", "Data", "1")
    twice = await c.bob.click(prompt, label="I accept")
    assert "no longer waiting" in twice.text and len(c.cards()) == 1


async def test_quiet_ideas_are_archived_and_stay_searchable(community: Community) -> None:
    c = community
    await c.mod.run("/ideamod thresholds", stages="1/400", archive_days=90, channel=c.general)
    await c.submit(c.alice, title="Old idea", details="Nobody ever answered this")
    c.clock.advance(days=91)
    await tick(c)
    assert "archived" in fields_of(c.card(1))["Status"]
    assert "voting closed" in c.card(1).embeds[0]["footer"]["text"]
    await c.bob.react(c.card(1), "👍")
    await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 1)).upvotes == 0
    found = await c.carol.run("/idea search", query="old", channel=c.general)
    assert "Old idea" in found.text
    async with c.db.conn.execute("SELECT archived_at FROM ideas WHERE number = 1") as cursor:
        row = await cursor.fetchone()
    assert row[0] == c.clock().timestamp()


async def test_anonymous_cards_hide_the_author_from_members_only(community: Community) -> None:
    c = community
    refused = await c.bob.run(
        "/idea submit", title="Pay transparency", details="Publish the salary bands", anonymous=True, channel=c.general
    )
    assert refused.ephemeral and "does not allow anonymous" in refused.text
    assert c.cards() == []
    allowed = await c.mod.run("/ideamod anonymous", allow=True, channel=c.general)
    assert "now allowed" in allowed.text
    card = await c.submit(c.bob, title="Pay transparency", details="Publish the salary bands", anonymous=True)
    await c.settle()
    embed = c.card(1).embeds[0]
    assert fields_of(c.card(1))["Author"] == "Anonymous"
    assert str(c.bob.id) not in str(embed) and "bob" not in str(embed).lower()
    thread = c.emu.thread_of(card)
    assert thread is not None and str(c.bob.id) not in (thread.name or "")
    member_view = await c.carol.run("/idea show", id=1, channel=c.general)
    assert str(c.bob.id) not in member_view.text
    mod_view = await c.mod.run("/idea show", id=1, channel=c.general)
    assert mod_view.ephemeral and f"<@{c.bob.id}>" in mod_view.text
    # Still the author where it counts: their own list.
    mine = await c.bob.run("/idea mine", channel=c.general)
    assert "Pay transparency" in mine.text


async def test_the_accept_button_survives_a_real_restart(community: Community) -> None:
    c = community
    await c.mod.run("/ideamod terms set", text="Ideas you share are licensed CC-BY 4.0.", version="1")
    prompt = await c.erin.run("/idea submit", title="Offline mode", details="Work without a connection")
    await c.bot.close()
    async with running_bot(c.settings, c.db, c.clock) as restarted:
        c.bot = restarted
        posted = await c.erin.click(prompt, label="I accept")
        assert "#1" in posted.text
        idea = await restarted.ideas.get(c.guild.id, 1)
        assert (idea.title, idea.terms_version) == ("Offline mode", "1")
