"""End-to-end: reaction voting, coalesced card edits, recount after downtime."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

from bot.storage import Database
from bot.testing import Community, FakeClock, build_community, emulator_settings, running_bot, set_up_guild
from discord_emulator import DiscordEmulator

EDIT_ROUTE = "/channels/{channel_id}/messages/{message_id}"


def tally_field(c: Community, number: int) -> str:
    fields = {f["name"]: f["value"] for f in c.card(number).embeds[0]["fields"]}
    return fields["Votes"]


async def test_tallies_follow_the_latest_reaction_and_ignore_author_and_bot(community: Community) -> None:
    c = community
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.alice.react(card, "👍")  # the author's own vote never counts
    for member in (c.bob, c.carol, c.dave, c.erin):
        await member.react(card, "👍")
    await c.frank.react(card, "👎")
    await c.grace.react(card, "👎")
    await c.grace.unreact(card, "👎")  # withdrawn
    await c.dave.react(card, "👎")  # switches 👍 → 👎: latest wins
    await c.heidi.react(card, "🎉")  # not a vote
    await c.settle()
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert (idea.upvotes, idea.downvotes) == (3, 2)
    assert tally_field(c, 1) == "👍 3   👎 2"
    async with c.db.conn.execute("SELECT voter_id, value FROM votes ORDER BY voter_id") as cursor:
        stored = {row[0]: row[1] for row in await cursor.fetchall()}
    assert stored == {c.bob.id: 1, c.carol.id: 1, c.erin.id: 1, c.frank.id: -1, c.dave.id: -1}


async def test_a_burst_of_300_reactions_is_coalesced_into_few_edits(community: Community) -> None:
    c = community
    card = await c.submit(c.alice, title="Popular idea", details="Everyone will want this one")
    voters = [c.guild.add_member(f"fan{i}", account_age=timedelta(days=100)) for i in range(300)]
    edits_before = len(c.emu.requests_to("PATCH", EDIT_ROUTE, message_id=str(card.id)))
    await asyncio.gather(*(voter.react(card, "👍" if i % 4 else "👎") for i, voter in enumerate(voters)))
    await c.settle()
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert (idea.upvotes, idea.downvotes) == (225, 75)
    assert tally_field(c, 1) == "👍 225   👎 75"
    edits = c.emu.requests_to("PATCH", EDIT_ROUTE, message_id=str(card.id))[edits_before:]
    assert 1 <= len(edits) <= 10, f"{len(edits)} edits for 300 votes"
    # Never two edits of one card within the configured interval.
    interval = c.settings.card_edit_interval_seconds
    times = [r.time for r in edits]
    assert all(b - a >= interval * 0.9 for a, b in pairwise(times))
    assert c.emu.stats.rate_limited == 0


async def test_edits_across_many_cards_stay_within_the_channel_budget(community: Community) -> None:
    c = community
    c.emu.limits.message_create = c.emu.limits.message_edit  # many cards are posted quickly here
    cards = []
    for i in range(8):
        cards.append(await c.submit(c.members[list(c.members)[i % 8]], title=f"Idea {i}", details="some details"))
    await c.settle()
    for card in cards:
        await c.newbie.react(card, "👍")
        await c.mod.react(card, "👍")
    await c.settle()
    assert c.emu.stats.rate_limited == 0
    for number in range(1, 9):
        assert tally_field(c, number) == "👍 2   👎 0"


async def test_votes_cast_while_the_bot_was_offline_are_recounted(
    emulator: DiscordEmulator, tmp_path: Path, database_target: str
) -> None:
    path = database_target
    db = await Database.open(path)
    clock = FakeClock()
    settings = emulator_settings(emulator, path)
    c = await build_community(emulator, db, clock, settings, ["alice", "bob", "carol", "dave"])
    async with running_bot(settings, db, clock) as bot:
        c.bot = bot
        await set_up_guild(c)
        card = await c.submit(c.alice, title="Offline votes", details="Votes while the bot sleeps")
        await c.bob.react(card, "👍")
        await c.carol.react(card, "👍")
        await c.settle()
    # The bot is down: reactions change without it hearing about them.
    await c.carol.unreact(card, "👍")
    await c.carol.react(card, "👎")
    await c.dave.react(card, "👍")
    await c.alice.react(card, "👍")  # the author: still never counts
    async with running_bot(settings, db, clock) as bot:
        c.bot = bot
        await c.settle()
        idea = await bot.ideas.get(c.guild.id, 1)
        assert (idea.upvotes, idea.downvotes) == (2, 1)
        assert tally_field(c, 1) == "👍 2   👎 1"
    await db.close()


async def test_recount_reads_every_page_of_reactions(community: Community) -> None:
    c = community
    card = await c.submit(c.alice, title="Many voters", details="More than one page of reactions")
    voters = [c.guild.add_member(f"v{i}", account_age=timedelta(days=50)) for i in range(230)]
    # Reactions added behind the bot's back (no gateway events), as if it had been offline.
    for voter in voters:
        card.reactions.setdefault("👍", []).append(voter.id)
    card.reactions["👍"].sort()
    changed = await c.bot.votes.recount_recent(c.bot.reaction_reader, c.clock() - timedelta(days=1))
    assert changed == 230
    pages = c.emu.requests_to("GET", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}")
    assert len([p for p in pages if "👍" in p.path or "%F0%9F%91%8D" in p.path]) >= 3
    await c.settle()
    assert tally_field(c, 1) == "👍 230   👎 0"


async def test_a_resumed_session_replays_missed_votes(community: Community) -> None:
    c = community
    card = await c.submit(c.alice, title="Resume me", details="Votes during a short disconnect")
    await c.emu.drop_gateway(resume=True, hold=0.2)
    await c.bob.react(card, "👍")
    await c.carol.react(card, "👎")
    await c.emu.wait_until_connected()
    await c.emu.wait_for(lambda: c.emu.gateway.stats.resumes >= 1)
    await c.settle()
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert (idea.upvotes, idea.downvotes) == (1, 1)
    assert c.bot.recounts == 1  # a RESUME needs no recount


async def test_a_reaction_that_cannot_be_queued_does_not_stop_the_gateway(community: Community) -> None:
    # Reactions are taken inside discord.py's gateway parse (no task per event): a failure there
    # must stay there, and the next recount repairs the vote it lost.
    c = community
    card = await c.submit(c.alice, title="Sturdy intake", details="One bad event must not stop the rest")
    take_reaction = c.bot.reaction_sink

    def broken(reaction: object) -> None:
        raise RuntimeError("cannot queue")

    c.bot.reaction_sink = broken
    await c.bob.react(card, "👍")
    await c.settle()
    c.bot.reaction_sink = take_reaction
    await c.carol.react(card, "👍")
    await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 1)).upvotes == 1  # carol's; bob's was lost
    await c.bot.votes.recount_recent(c.bot.reaction_reader, since=c.clock() - timedelta(days=1))
    await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 1)).upvotes == 2
    assert tally_field(c, 1) == "👍 2   👎 0"


async def test_listeners_for_reaction_events_still_get_discord_py_objects(community: Community) -> None:
    # The bot reads votes from the payload itself; anything listening the usual way (a cog
    # listener, wait_for) still gets discord.py's events, and the vote still counts.
    c = community
    card = await c.submit(c.alice, title="Listened to", details="A listener sees the reaction as usual")
    seen = asyncio.ensure_future(c.bot.wait_for("raw_reaction_add", timeout=10))
    await asyncio.sleep(0)
    await c.bob.react(card, "👍")
    payload = await seen
    assert (payload.user_id, payload.message_id, str(payload.emoji)) == (c.bob.id, card.id, "👍")
    assert payload.member is not None and payload.member.id == c.bob.id
    await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 1)).upvotes == 1
