"""End-to-end: an anonymous idea's author is shown to moderators and to themself only, on every
path that can name a person: /rep show, /rep top, the thread's thank-you, co-authors after a
merge, the ping for closed DMs, challenge results."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.digest.exports import export
from bot.digest.rules import IsoWeek
from bot.digest.service import DigestService
from bot.testing import Community
from discord_emulator import Message


def thread_texts(c: Community, card: Message) -> str:
    thread = c.emu.thread_of(card)
    assert thread is not None
    parts: list[str] = []
    for message in thread.messages:
        parts.append(message.content or "")
        parts += [str(embed) for embed in message.embeds]
    return "\n".join(parts)


def names_idea(text: str, number: int) -> bool:
    """`#N` as an idea number (not the profile's "rank #N of M")."""
    return re.search(rf"#{number}(?!\d| of )", text) is not None


async def allow_anonymous(c: Community) -> None:
    reply = await c.mod.run("/ideamod anonymous", allow=True, channel=c.general)
    assert "now allowed" in reply.text


async def anonymous_idea(c: Community) -> Message:
    """bob's anonymous idea #1 with two upvotes (carol, dave)."""
    await allow_anonymous(c)
    card = await c.submit(c.bob, title="Pay transparency", details="Publish the salary bands", anonymous=True)
    await c.carol.react(card, "👍")
    await c.dave.react(card, "👍")
    await c.settle()
    return card


async def test_rep_show_of_an_anonymous_author_hides_the_idea_from_other_members(community: Community) -> None:
    c = community
    await anonymous_idea(c)
    seen_by_carol = await c.carol.run("/rep show", member=c.bob, channel=c.general)
    assert seen_by_carol.ephemeral
    assert not names_idea(seen_by_carol.text, 1), seen_by_carol.text
    assert "**0** points" in seen_by_carol.text and "not ranked yet" in seen_by_carol.text
    # The author sees their own ledger in full, and so do moderators; the points stay theirs.
    own = await c.bob.run("/rep show", channel=c.general)
    assert "Submitted idea #1" in own.text and "Upvote on #1" in own.text and "**4** points" in own.text
    assert "rank #1 of 1" in own.text
    moderator = await c.mod.run("/rep show", member=c.bob, channel=c.general)
    assert "Submitted idea #1" in moderator.text
    assert await c.bot.services.reputation.total(c.guild.id, c.bob.id) == 4


async def test_rep_top_does_not_single_out_an_anonymous_author(community: Community) -> None:
    c = community
    await anonymous_idea(c)
    board = await c.carol.run("/rep top", channel=c.general)
    assert str(c.bob.id) not in board.text, board.text
    moderator = await c.mod.run("/rep top", channel=c.general)
    assert str(c.bob.id) in moderator.text


async def test_planned_thank_you_does_not_name_the_anonymous_author(community: Community) -> None:
    c = community
    card = await anonymous_idea(c)
    await c.mod.run("/ideamod status", id=1, status="planned", reason="Next quarter", channel=c.general)
    await c.settle()
    await c.bot.services.reputation.wait_idle()
    texts = thread_texts(c, card)
    assert "Thank you" in texts
    assert str(c.bob.id) not in texts, texts
    # Still credited, and told in private.
    assert await c.bot.services.reputation.total(c.guild.id, c.bob.id) == 14
    assert any("Planned" in str(m.embeds) for m in c.emu.dms_to(c.bob))


async def test_merged_anonymous_author_is_not_a_visible_coauthor(community: Community) -> None:
    c = community
    await allow_anonymous(c)
    target = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.submit(c.bob, title="Night theme", details="Please add a night theme", anonymous=True)
    merged = await c.mod.run("/ideamod merge", source=2, target=1, channel=c.general)
    assert merged.ephemeral
    await c.settle()
    card = c.card(1)
    assert str(c.bob.id) not in str(card.embeds), card.embeds
    assert f"<@{c.alice.id}>" in str(card.embeds)
    # Planned: alice is thanked by name, bob is credited but not named in public.
    await c.mod.run("/ideamod status", id=1, status="planned", reason="Soon", channel=c.general)
    await c.settle()
    await c.bot.services.reputation.wait_idle()
    texts = thread_texts(c, target)
    assert f"<@{c.alice.id}>" in texts and str(c.bob.id) not in texts
    seen_by_carol = await c.carol.run("/rep show", member=c.bob, channel=c.general)
    assert not names_idea(seen_by_carol.text, 1) and not names_idea(seen_by_carol.text, 2), seen_by_carol.text
    assert "#1 planned" in (await c.bob.run("/rep show", channel=c.general)).text
    # The week's contributors in the digest and every export: alice, not bob.
    await c.bot.services.digests.names.flush()
    digest = await DigestService(c.db, c.clock).build(c.guild.id, IsoWeek.of(c.clock().date()), use_llm=False)
    assert [person.user_id for person in digest.contributors] == [c.alice.id]
    assert [person.name for person in digest.contributors] == ["alice"]  # named, as exports show them
    for fmt in ("md", "html", "csv", "json"):
        text = export(digest, fmt)
        assert str(c.bob.id) not in text and "bob" not in text, fmt
    # Moderators still see who is behind it.
    shown = await c.mod.run("/idea show", id=1, channel=c.general)
    assert f"<@{c.bob.id}>" in shown.text
    assert str(c.bob.id) not in (await c.carol.run("/idea show", id=1, channel=c.general)).text


async def test_anonymous_author_with_closed_dms_is_never_pinged_in_public(community: Community) -> None:
    c = community
    card = await anonymous_idea(c)
    c.guild.member("bob").target.dms_open = False
    c.guild.member("carol").target.dms_open = False
    await c.mod.run("/ideamod status", id=1, status="under_review", channel=c.general)
    await c.settle()
    texts = thread_texts(c, card)
    assert str(c.bob.id) not in texts, texts
    # A supporter with closed DMs is still pointed to the thread.
    assert f"<@{c.carol.id}>" in texts


async def test_anonymous_challenge_winner_stays_anonymous_in_rep_show(community: Community) -> None:
    c = community
    await allow_anonymous(c)
    deadline = (c.clock() + timedelta(days=7)).strftime("%Y-%m-%d %H:%M")
    await c.mod.run("/challenge open", title="Greener office", brief="Cut energy", deadline=deadline)
    card = await c.submit(c.bob, title="Solar panels", details="Solar panels on the roof", challenge=1, anonymous=True)
    await c.carol.react(card, "👍")
    await c.settle()
    c.clock.advance(days=8)
    await c.mod.run("/challenge close", id=1, channel=c.general)
    await c.settle()
    results = c.emu.messages_in(c.ideas)[-1]
    assert "Anonymous" in str(results.embeds) and str(c.bob.id) not in str(results.embeds)
    seen_by_carol = await c.carol.run("/rep show", member=c.bob, channel=c.general)
    assert "challenge" not in seen_by_carol.text.lower(), seen_by_carol.text
    own = await c.bob.run("/rep show", channel=c.general)
    assert "Place 1 in challenge #1" in own.text
