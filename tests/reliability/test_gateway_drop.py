"""The gateway drops in the middle of a burst: after a RESUME (missed events replayed) and after
a full reconnect (new session, READY, recount) the tallies equal the reactions on the cards."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from bot.testing import Community
from discord_emulator import Message

UP, DOWN = "👍", "👎"


async def truth(c: Community, card: Message, author_id: int) -> tuple[int, int]:
    """The tally the reactions on the card say (each member holds at most one of 👍/👎)."""
    ignored = {c.emu.bot_user.id, author_id}
    ups = set(card.reactions.get(UP, [])) - ignored
    downs = set(card.reactions.get(DOWN, [])) - ignored
    assert not ups & downs, "the burst keeps at most one voting reaction per member"
    return len(ups), len(downs)


def tally_field(card: Message) -> str:
    return {f["name"]: f["value"] for f in card.embeds[0]["fields"]}["Votes"]


async def burst(c: Community, cards: list[Message], n: int, seed: int, drop_at: int, resume: bool) -> None:
    """n actions (react, or switch by unreact then react), dropping the gateway after drop_at."""
    rng = random.Random(seed)
    voters = [c.guild.add_member(f"m{seed}_{i}", account_age=timedelta(days=200)) for i in range(40)]
    held: dict[tuple[int, int], str] = {}
    for step in range(n):
        if step == drop_at:
            await c.emu.drop_gateway(resume=resume, hold=0.3)
        voter, card = rng.choice(voters), rng.choice(cards)
        key = (voter.id, card.id)
        current = held.get(key)
        if current is None:
            emoji = UP if rng.random() < 0.7 else DOWN
            await voter.react(card, emoji)
            held[key] = emoji
        elif rng.random() < 0.5:
            await voter.unreact(card, current)
            del held[key]
        else:
            other = DOWN if current == UP else UP
            await voter.unreact(card, current)
            await voter.react(card, other)
            held[key] = other
        if step % 10 == 0:
            await asyncio.sleep(0)


async def check_against_reactions(c: Community, cards: list[Message], authors: list[int]) -> None:
    await c.settle()
    for number, (card, author) in enumerate(zip(cards, authors, strict=True), start=1):
        ups, downs = await truth(c, card, author)
        idea = await c.bot.ideas.get(c.guild.id, number)
        assert (idea.upvotes, idea.downvotes) == (ups, downs), f"card #{number}"
        async with c.db.conn.execute(
            "SELECT COUNT(CASE WHEN value = 1 THEN 1 END), COUNT(CASE WHEN value = -1 THEN 1 END) FROM votes"
            " WHERE idea_id = ?",
            (idea.id,),
        ) as cursor:
            row = await cursor.fetchone()
        assert (row[0] or 0, row[1] or 0) == (ups, downs), f"votes rows of #{number}"
        assert tally_field(card) == f"👍 {ups}   👎 {downs}"


async def post_cards(c: Community) -> tuple[list[Message], list[int]]:
    c.emu.limits.message_create = c.emu.limits.message_edit
    cards, authors = [], []
    for name, title in (("alice", "Dark mode please"), ("bob", "Export to CSV files"), ("carol", "Keyboard shortcuts")):
        cards.append(await c.submit(c.members[name], title=title, details="Concrete details for the burst test"))
        authors.append(c.members[name].id)
    return cards, authors


@pytest.mark.parametrize("resume", [True, False], ids=["resume", "reidentify"])
async def test_tallies_equal_the_reactions_after_a_drop_mid_burst(community: Community, resume: bool) -> None:
    c = community
    cards, authors = await post_cards(c)
    identifies = c.emu.gateway.stats.identifies
    await burst(c, cards, n=240, seed=7, drop_at=110, resume=resume)
    await c.emu.wait_until_connected(timeout=8)
    if resume:
        await c.emu.wait_for(lambda: c.emu.gateway.stats.resumes >= 1, timeout=8)
        assert c.emu.gateway.stats.identifies == identifies
    else:
        await c.emu.wait_for(lambda: c.bot.recounts >= 2, timeout=8)  # READY again, then the recount
        assert c.emu.gateway.stats.identifies == identifies + 1
    await check_against_reactions(c, cards, authors)
    # Keep voting after the reconnect: the new session carries on.
    await burst(c, cards, n=60, seed=8, drop_at=-1, resume=resume)
    await check_against_reactions(c, cards, authors)
