"""End-to-end: one vote semantics for reactions, the "Support instead" button and recounts after
a restart; ideas closed to votes take none from any path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.client import IdeaBot
from bot.ideas.rules import Status
from bot.programmes import storage as programme_queries
from bot.storage import Database
from bot.testing import Community, FakeClock, build_community, emulator_settings, running_bot, set_up_guild
from discord_emulator import DiscordEmulator
from tests.conftest import MEMBER_NAMES

DARK = ("Dark mode for the dashboard", "A dark theme for the dashboard at night")
NIGHT = ("Night theme for the dashboard", "Please give the dashboard a dark colour scheme for late work")


def tally_field(c: Community, number: int) -> str:
    fields = {f["name"]: f["value"] for f in c.card(number).embeds[0]["fields"]}
    return fields["Votes"]


async def tallies(c: Community, number: int) -> tuple[int, int]:
    idea = await c.bot.ideas.get(c.guild.id, number)
    return idea.upvotes, idea.downvotes


class Restartable:
    """A community whose bot can be stopped and started again on the same database."""

    def __init__(self, c: Community) -> None:
        self.c = c

    @asynccontextmanager
    async def bot(self) -> AsyncIterator[IdeaBot]:
        async with running_bot(self.c.settings, self.c.db, self.c.clock) as bot:
            self.c.bot = bot
            yield bot


async def restartable(emulator: DiscordEmulator, path: str) -> Restartable:
    db = await Database.open(path)
    settings = emulator_settings(emulator, path)
    return Restartable(await build_community(emulator, db, FakeClock(), settings, MEMBER_NAMES))


async def test_support_instead_replaces_a_downvote_and_a_restart_keeps_it(
    emulator: DiscordEmulator, database_target: str
) -> None:
    r = await restartable(emulator, database_target)
    c = r.c
    try:
        async with r.bot():
            await set_up_guild(c)
            card = await c.submit(c.alice, title=DARK[0], details=DARK[1])
            await c.bob.react(card, "👎")
            await c.settle()
            assert await tallies(c, 1) == (0, 1)
            reply = await c.bob.run("/idea submit", title=NIGHT[0], details=NIGHT[1], channel=c.general)
            done = await c.bob.click(reply, label="Support #1 instead")
            assert "support for **#1** is recorded" in done.text
            assert "replaces your 👎" in done.text
            await c.settle()
            assert await tallies(c, 1) == (1, 0)
        # The bot restarts; the recount finds bob's 👎 still there, as it was when he chose
        # to support #1 instead: his support stands.
        async with r.bot():
            await c.settle()
            assert await tallies(c, 1) == (1, 0)
            assert tally_field(c, 1) == "👍 1   👎 0"
            # Live, taking the 👎 away leaves the support; adding it again is his latest word.
            await c.bob.unreact(card, "👎")
            await c.settle()
            assert await tallies(c, 1) == (1, 0)
            await c.bob.react(card, "👎")
            await c.settle()
            assert await tallies(c, 1) == (0, 1)
    finally:
        await c.db.close()


async def test_removing_the_later_reaction_falls_back_to_the_one_still_held(
    emulator: DiscordEmulator, database_target: str
) -> None:
    r = await restartable(emulator, database_target)
    c = r.c
    try:
        async with r.bot():
            await set_up_guild(c)
            card = await c.submit(c.alice, title=DARK[0], details=DARK[1])
            await c.bob.react(card, "👍")
            await c.bob.react(card, "👎")
            await c.settle()
            assert await tallies(c, 1) == (0, 1)
            await c.bob.unreact(card, "👎")  # he still holds 👍
            await c.settle()
            assert await tallies(c, 1) == (1, 0)
            assert tally_field(c, 1) == "👍 1   👎 0"
        async with r.bot() as bot:
            await c.settle()
            assert await tallies(c, 1) == (1, 0)
            assert bot.recounts >= 1
    finally:
        await c.db.close()


async def test_archived_or_expired_ideas_are_not_offered_and_their_button_records_nothing(
    community: Community,
) -> None:
    c = community
    await c.submit(c.alice, title=DARK[0], details=DARK[1])
    idea = await c.bot.ideas.get(c.guild.id, 1)
    # A warning shown while #1 was open; then #1 expires before the member clicks.
    reply = await c.bob.run("/idea submit", title=NIGHT[0], details=NIGHT[1], channel=c.general)
    assert "already on the board" in reply.text
    async with c.db.transaction() as conn:  # as the programme's expiry writes it
        await conn.execute("UPDATE ideas SET expired_at = ? WHERE id = ?", (c.clock().timestamp(), idea.id))
    late = await c.bob.click(reply, label="Support #1 instead")
    assert late.ephemeral and "closed to votes" in late.text, late.text
    await c.settle()
    assert await tallies(c, 1) == (0, 0)
    # The draft is still waiting: nothing lost.
    posted = await c.bob.click(reply, label="Post anyway")
    assert "#2" in posted.text
    # An archived idea is not offered at all.
    async with c.db.transaction() as conn:
        await programme_queries.reopen(conn, idea.id, c.clock(), restart_window=False)
        await programme_queries.mark_archived(conn, idea.id, [Status.OPEN], c.clock(), c.clock())
    c.clock.advance(minutes=5)
    again = await c.carol.run("/idea submit", title="Dark dashboard mode", details=DARK[1], channel=c.general)
    assert "Support #1" not in str(again.components)
    assert "#1" not in " ".join(e.get("description", "") for e in again.embeds)


async def test_a_merge_moves_no_votes_into_an_idea_closed_to_votes(community: Community) -> None:
    c = community
    await c.submit(c.alice, title=DARK[0], details=DARK[1])
    second = await c.submit(c.carol, title="Export reports to CSV", details="Download the monthly report as CSV")
    await c.bob.react(second, "👍")
    await c.dave.react(second, "👎")
    await c.settle()
    declined = await c.mod.run("/ideamod status", id=1, status="declined", reason="Out of scope", channel=c.general)
    assert "declined" in declined.text.lower()
    merged = await c.mod.run("/ideamod merge", source=2, target=1, channel=c.general)
    assert merged.ephemeral
    await c.settle()
    assert await tallies(c, 1) == (0, 0)


reaction_step = st.tuples(st.sampled_from(["alice", "bob", "carol", "dave"]), st.sampled_from(["👍", "👎"]))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(reaction_step, min_size=1, max_size=12))
async def test_live_counting_and_a_recount_agree_through_the_gateway(
    community: Community, history: list[tuple[str, str]]
) -> None:
    """Random reaction histories (the author's own included) through the emulator's gateway; the
    recount from the reactions the emulator holds then changes nothing."""
    c = community
    c.clock.advance(days=1)  # one idea a day stays clear of the daily limit
    card = await c.submit(c.alice, title=f"Idea {len(c.cards()) + 1}", details="Reactions in any order")
    number = len(c.cards())
    held: dict[tuple[str, str], bool] = {}
    for name, emoji in history:
        member = getattr(c, name)
        if held.get((name, emoji)):
            await member.unreact(card, emoji)
        else:
            await member.react(card, emoji)
        held[(name, emoji)] = not held.get((name, emoji))
    await c.settle()
    live = await tallies(c, number)
    idea = await c.bot.ideas.get(c.guild.id, number)
    c.clock.advance(seconds=1)
    assert await c.bot.votes.recount([idea], c.bot.reaction_reader) == 0
    assert await tallies(c, number) == live
