"""A 429 storm and 5xx answers on card edits and role changes: everything completes later, in
order, and nothing is lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.testing import Community
from discord_emulator import Limit, Message

EDIT_ROUTE = "/channels/{channel_id}/messages/{message_id}"
ROLE_ROUTE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"


def shown_tallies(c: Community, card: Message) -> list[tuple[int, int]]:
    """Every tally the bot sent for this card, in the order the emulator accepted the edits."""
    shown = []
    for record in c.emu.requests_to("PATCH", EDIT_ROUTE, message_id=str(card.id)):
        if record.status != 200 or not isinstance(record.json, dict):
            continue
        for embed_field in record.json["embeds"][0]["fields"]:
            if embed_field["name"] == "Votes":
                ups, downs = embed_field["value"].replace("👍", "").replace("👎", "").split()
                shown.append((int(ups), int(downs)))
    return shown


async def test_card_edits_survive_a_429_storm_and_5xx(community: Community) -> None:
    c = community
    c.emu.limits.message_create = c.emu.limits.message_edit
    cards = [
        await c.submit(c.alice, title="Dark mode please", details="Concrete details for the storm test"),
        await c.submit(c.bob, title="Export to CSV files", details="Concrete details for the storm test"),
        await c.submit(c.carol, title="Keyboard shortcuts", details="Concrete details for the storm test"),
    ]
    await c.settle()
    # Discord tightens the channel's edit bucket below the bot's own budget (discord.py reads the
    # X-RateLimit headers and waits); 500s (discord.py retries them itself), and 429s without
    # Via / retry_after and a 503 (discord.py gives up: the scheduler retries the card later).
    c.emu.limits.message_edit = Limit(2, 0.5)
    c.emu.fail_next("PATCH", EDIT_ROUTE, status=500, times=2)
    c.emu.fail_next("PATCH", EDIT_ROUTE, status=429, times=2)
    c.emu.fail_next("PATCH", EDIT_ROUTE, status=503, times=1)
    fans = [c.guild.add_member(f"fan{i}", account_age=timedelta(days=100)) for i in range(90)]
    for i, fan in enumerate(fans):
        await fan.react(cards[i % 3], "👍")
        if i % 15 == 0:
            await asyncio.sleep(0.05)  # a stream, not one batch: several edits per card
    await c.settle()
    assert not c.emu.faults, "every injected failure was hit"
    assert c.bot.board.scheduler.stats.failures >= 3, "the bare 429s and the 503 reached the scheduler"
    for number, card in enumerate(cards, start=1):
        idea = await c.bot.ideas.get(c.guild.id, number)
        assert (idea.upvotes, idea.downvotes) == (30, 0), "no vote lost"
        shown = shown_tallies(c, card)
        assert shown[-1] == (30, 0), "the last edit shows the final tally"
        assert shown == sorted(shown), "edits arrive in order: a card never goes back to an older tally"


async def test_reward_roles_end_right_after_429s_and_5xx(community: Community) -> None:
    c = community
    c.bot.services.reputation.role_delay = 0.05
    role = c.guild.create_role("Contributor", position=c.mod_role.target.position)  # one the moderator may give
    reply = await c.mod.run("/ideamod role add", role=role, points=3, channel=c.general)
    assert "Contributor" in reply.text or "reward" in reply.text.lower(), reply.text
    authors = [c.alice, c.bob, c.carol, c.dave]
    cards = []
    for author in authors:
        cards.append(await c.submit(author, title=f"Idea from {author.name}", details="Concrete details here"))
    await c.settle()
    # Role changes: a tight bucket (discord.py waits it out) and a 500 (discord.py retries).
    c.emu.limits.role_change = Limit(1, 0.4)
    c.emu.fail_next("PUT", ROLE_ROUTE, status=500, times=1)
    for card in cards:  # one trusted upvote each: 2 (submission) + 1 = 3 points
        await c.heidi.react(card, "👍")
    await c.settle()
    await c.emu.wait_for(lambda: all(a.has_role(role) for a in authors), timeout=8)
    # Withdrawn: alice drops to 2 points and loses the role; the others keep it.
    c.emu.fail_next("DELETE", ROLE_ROUTE, status=500, times=1)
    await c.heidi.unreact(cards[0], "👍")
    await c.settle()
    await c.emu.wait_for(lambda: not c.alice.has_role(role), timeout=8)
    await asyncio.sleep(0.3)
    assert [a.has_role(role) for a in authors] == [False, True, True, True]
    alice_calls = sorted(
        (r for r in c.emu.requests if r.template == ROLE_ROUTE and r.params.get("user_id") == str(c.alice.id)),
        key=lambda r: r.time,
    )
    successes = [r.method for r in alice_calls if r.status < 300]
    assert successes == ["PUT", "DELETE"], "given, then taken back, in that order"


async def test_a_role_change_that_fails_for_good_is_retried_later(community: Community) -> None:
    c = community
    c.bot.services.reputation.role_delay = 0.05
    role = c.guild.create_role("Contributor", position=c.mod_role.target.position)  # one the moderator may give
    await c.mod.run("/ideamod role add", role=role, points=3, channel=c.general)
    card = await c.submit(c.alice, title="Idea from alice", details="Concrete details here")
    await c.settle()
    c.emu.fail_next("PUT", ROLE_ROUTE, status=429, times=1)  # no Via: discord.py gives up at once
    await c.heidi.react(card, "👍")
    await c.settle()
    await c.emu.wait_for(lambda: c.alice.has_role(role), timeout=4)
