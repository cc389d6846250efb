"""A run that dies between a change and its effects owes those effects; the next start pays
them, once. Each test stops the bot at one such moment (in-process, by making the effect's
step fail or be cancelled the way a kill would leave it), restarts it on the same database
and counts what Discord and the database hold. The SIGKILL test of the whole process is
tests/reliability/test_kill_restart.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import discord
import pytest

from bot.digest import storage as digest_queries
from bot.ideas.service import IdeaService
from bot.reputation import storage as rep_queries
from bot.reputation.service import VoteBatchReplay
from bot.testing import Community, events_delivered, running_bot
from tests.digest.test_digest_e2e import NEXT_MONDAY_9, a_week_of_ideas, cog_of, digest_messages


class Killed(Exception):
    """Stands in for the process dying at this step."""


async def upvote_rows(c: Community) -> int:
    async with c.db.conn.execute("SELECT COUNT(*) FROM reputation_events WHERE source = 'upvote'") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def test_a_vote_batch_committed_but_never_credited_is_credited_once_at_restart(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = community
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.settle()
    before = await c.bot.services.reputation.total(c.guild.id, c.alice.id)

    def died(self: VoteBatchReplay) -> VoteBatchReplay:
        raise Killed("between the vote batch's commit and its reputation credit")

    monkeypatch.setattr(VoteBatchReplay, "run", died)
    for name in ("bob", "carol", "dave", "erin"):
        await c.members[name].react(card, "👍")
    await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 1)).upvotes == 4  # the votes are durable
    assert await c.bot.services.reputation.total(c.guild.id, c.alice.id) == before
    monkeypatch.undo()

    for _ in range(2):  # a second restart credits nothing more
        await c.bot.close()
        async with running_bot(c.settings, c.db, c.clock) as restarted:
            c.bot = restarted
            await c.settle()
            assert await restarted.services.reputation.total(c.guild.id, c.alice.id) == before + 4
            assert await upvote_rows(c) == 4
    async with c.db.conn.execute("SELECT COUNT(*) FROM vote_effects") as cursor:
        assert (await cursor.fetchone())[0] == 0  # type: ignore[index]


async def test_a_reward_role_owed_at_a_crash_is_given_at_restart(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = community
    role = await c.guild.create_role_live("Contributor", position=c.mod_role.target.position)  # one the mod may give
    await c.settle()
    reply = await c.mod.run("/ideamod role add", role=role, points=4, channel=c.general)
    assert "reward role" in reply.text, reply.text
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    rep: Any = c.bot.services.reputation
    rep.role_delay = 30.0  # the role change is still waiting when the process dies
    for name in ("bob", "carol"):
        await c.members[name].react(card, "👍")
    await events_delivered(c.bot, c.emu)
    await c.bot.votes.flush()
    assert await rep.total(c.guild.id, c.alice.id) == 4
    assert not c.alice.has_role(role)
    # The pending role work lives in memory only: drop it as a kill would.
    assert rep._reconciler is not None
    rep._reconciler.cancel()
    rep._dirty.clear()
    await c.bot.close()
    async with running_bot(c.settings, c.db, c.clock) as restarted:
        c.bot = restarted
        await restarted.services.reputation.wait_idle()
        assert c.alice.has_role(role)
        assert [a for _, _, a, _ in await restarted.services.reputation.role_awards(c.guild.id)] == ["added"]


async def test_a_status_bonus_owed_at_a_crash_is_credited_once_at_restart(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.settle()
    before = await c.bot.services.reputation.total(c.guild.id, c.alice.id)

    async def died(*args: Any, **kwargs: Any) -> int:
        raise Killed("between the status change's commit and its bonus")

    monkeypatch.setattr(rep_queries, "idea_source_credit", died)
    await c.mod.run("/ideamod status", id=1, status="planned", reason="Shipping in Q1", channel=c.general)
    await c.settle()
    assert await c.bot.services.reputation.total(c.guild.id, c.alice.id) == before
    monkeypatch.undo()
    for _ in range(2):
        await c.bot.close()
        async with running_bot(c.settings, c.db, c.clock) as restarted:
            c.bot = restarted
            await c.settle()
            assert await restarted.services.reputation.total(c.guild.id, c.alice.id) == before + 10


async def test_submission_and_withdrawal_points_owed_at_a_crash_are_written_once_at_restart(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = community

    async def died(*args: Any, **kwargs: Any) -> int:
        raise Killed("between the change's commit and its points")

    monkeypatch.setattr(rep_queries, "counted_since", died)
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.submit(c.bob, title="Export to CSV", details="Download the weekly report as a CSV file")
    await c.settle()
    monkeypatch.undo()
    rep: Any = c.bot.services.reputation
    assert (await rep.total(c.guild.id, c.alice.id), await rep.total(c.guild.id, c.bob.id)) == (0, 0)
    await c.bot.close()
    async with running_bot(c.settings, c.db, c.clock) as restarted:
        c.bot = restarted
        rep = restarted.services.reputation
        assert (await rep.total(c.guild.id, c.alice.id), await rep.total(c.guild.id, c.bob.id)) == (2, 2)
        monkeypatch.setattr(rep_queries, "outstanding_on_idea", died)
        reply = await c.bob.run("/idea withdraw", id=2, channel=c.general)
        assert "withdrawn" in reply.text.lower(), reply.text
        await c.settle()
        monkeypatch.undo()
        assert await rep.total(c.guild.id, c.bob.id) == 2
    for _ in range(2):
        async with running_bot(c.settings, c.db, c.clock) as restarted:
            c.bot = restarted
            rep = restarted.services.reputation
            assert (await rep.total(c.guild.id, c.alice.id), await rep.total(c.guild.id, c.bob.id)) == (2, 0)
            assert await upvote_rows(c) == 0
    async with c.db.conn.execute("SELECT COUNT(*) FROM reputation_events WHERE source = 'submission'") as cursor:
        assert (await cursor.fetchone())[0] == 2  # type: ignore[index]


async def test_a_merge_whose_moved_votes_were_never_credited_is_credited_once_at_restart(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    copy = await c.submit(c.bob, title="Night theme", details="A darker look for the evenings")
    for member in (c.carol, c.dave):
        await member.react(copy, "👍")
    await c.settle()
    rep: Any = c.bot.services.reputation
    assert (await rep.total(c.guild.id, c.alice.id), await rep.total(c.guild.id, c.bob.id)) == (2, 4)

    async def died(*args: Any, **kwargs: Any) -> int:
        raise Killed("between the merge's commit and its credit")

    monkeypatch.setattr(rep_queries, "vote_credit", died)
    reply = await c.mod.run("/ideamod merge", source=2, target=1, channel=c.general)
    assert "#2" in reply.text, reply.text
    await c.settle()
    monkeypatch.undo()
    assert (await rep.total(c.guild.id, c.alice.id), await rep.total(c.guild.id, c.bob.id)) == (2, 4)
    for _ in range(2):
        await c.bot.close()
        async with running_bot(c.settings, c.db, c.clock) as restarted:
            c.bot = restarted
            rep = restarted.services.reputation
            assert (await rep.total(c.guild.id, c.alice.id), await rep.total(c.guild.id, c.bob.id)) == (4, 2)


@pytest.mark.parametrize("dies", ["before the send", "after the send"])
async def test_a_thank_you_owed_at_a_crash_is_posted_once_at_restart(
    community: Community, monkeypatch: pytest.MonkeyPatch, dies: str
) -> None:
    c = community
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.settle()

    async def died(*args: Any, **kwargs: Any) -> None:
        raise Killed(f"the bot died {dies} of the thank-you")

    if dies == "before the send":
        monkeypatch.setattr(c.bot.services.reputation.outlet, "thank", died)
    else:
        monkeypatch.setattr(rep_queries, "thanked", died, raising=False)
    await c.mod.run("/ideamod status", id=1, status="planned", reason="Shipping in Q1", channel=c.general)
    await c.settle()
    await c.bot.services.reputation.wait_idle()
    monkeypatch.undo()
    for _ in range(2):
        await c.bot.close()
        async with running_bot(c.settings, c.db, c.clock) as restarted:
            c.bot = restarted
            await c.settle()
            await restarted.services.reputation.wait_idle()
    thread = c.emu.thread_of(card)
    assert thread is not None
    assert len([m for m in thread.messages if "#1 is planned. Thank you" in m.content]) == 1


async def test_a_support_stage_crossed_at_a_crash_is_acted_on_and_announced_once_at_restart(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = community
    await c.mod.run("/ideamod thresholds", stages="3/30 5/60", channel=c.general)
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")

    async def died(*args: Any, **kwargs: Any) -> None:
        raise Killed("between recording the crossing and acting on it")

    monkeypatch.setattr(IdeaService, "set_status", died)
    for member in (c.bob, c.carol, c.dave):
        await member.react(card, "👍")
    await c.settle()
    monkeypatch.undo()
    assert (await c.bot.ideas.get(c.guild.id, 1)).status.value == "open"

    for _ in range(2):
        await c.bot.close()
        async with running_bot(c.settings, c.db, c.clock) as restarted:
            c.bot = restarted
            await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 1)).status.value == "under_review"
    thread = c.emu.thread_of(card)
    assert thread is not None
    assert len([m for m in thread.messages if "reached support stage 1" in str(m.embeds)]) == 1
    assert len([m for m in c.emu.dms_to(c.alice) if "Update on #1" in str(m.embeds)]) == 1


@pytest.mark.parametrize("dies", ["before the send", "after the send"])
async def test_a_digest_post_cut_short_is_finished_at_restart_and_posted_once(
    community: Community, monkeypatch: pytest.MonkeyPatch, dies: str
) -> None:
    c = community
    await a_week_of_ideas(c)
    c.clock.now = NEXT_MONDAY_9 + timedelta(minutes=1)

    async def kept(*args: Any, **kwargs: Any) -> None:
        return None  # a dead process releases nothing: the claim stays 'posting'

    async def killed(*args: Any, **kwargs: Any) -> None:
        raise Killed(f"the bot died {dies}")

    monkeypatch.setattr(digest_queries, "release", kept)
    if dies == "before the send":
        monkeypatch.setattr(cog_of(c).digests, "publisher", type("Dead", (), {"publish": killed})())
    else:
        monkeypatch.setattr(digest_queries, "complete", killed)
    with pytest.raises(Killed):
        await cog_of(c).scheduler.service.post(c.guild.id, trigger="schedule")
    assert len(digest_messages(c)) == (0 if dies == "before the send" else 1)
    monkeypatch.undo()
    # Meanwhile the claim blocks the week: a manual post within the lease does not post it twice.
    again = await c.mod.run("/digest post", channel=c.general)
    assert "is being posted" in again.text, again.text

    for _ in range(2):
        await c.bot.close()
        async with running_bot(c.settings, c.db, c.clock) as restarted:
            c.bot = restarted
            await asyncio.wait_for(cog_of(c).caught_up.wait(), 10)
            assert len(digest_messages(c)) == 1
    async with c.db.conn.execute("SELECT iso_week, status, message_id FROM digests") as cursor:
        rows = [tuple(row) for row in await cursor.fetchall()]
    assert rows == [("2030-W10", "posted", digest_messages(c)[0].id)]


async def test_the_sweep_takes_over_a_claim_only_once_its_lease_is_over(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = community
    await a_week_of_ideas(c)
    c.clock.now = NEXT_MONDAY_9 + timedelta(minutes=1)

    async def killed(*args: Any, **kwargs: Any) -> None:
        raise Killed("the bot died after the send")

    async def kept(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(digest_queries, "release", kept)
    monkeypatch.setattr(digest_queries, "complete", killed)
    service = cog_of(c).scheduler.service
    with pytest.raises(Killed):
        await service.post(c.guild.id, trigger="schedule")
    monkeypatch.undo()
    c.clock.advance(minutes=2)
    assert await cog_of(c).scheduler.sweep() == []  # the claim may still be alive
    c.clock.advance(minutes=4)
    [resumed] = await cog_of(c).scheduler.sweep()
    assert (resumed.status, str(resumed.week)) == ("posted", "2030-W10")
    assert len(digest_messages(c)) == 1 and resumed.message_id == digest_messages(c)[0].id


async def test_status_change_notices_cut_short_are_delivered_once_each_at_restart(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = community
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    supporters = [c.bob, c.carol, c.dave]
    for member in supporters:
        await member.react(card, "👍")
    await c.settle()

    original = discord.abc.Messageable.send
    dms = 0

    async def send_then_die(self: Any, *args: Any, **kwargs: Any) -> discord.Message:
        nonlocal dms
        message = await original(self, *args, **kwargs)
        if isinstance(self, discord.User | discord.Member):
            dms += 1
            if dms == 2:  # Discord took the second DM; the process died before recording it
                raise asyncio.CancelledError
        return message

    monkeypatch.setattr(discord.abc.Messageable, "send", send_then_die)
    reply = await c.mod.run("/ideamod status", id=1, status="planned", reason="Shipping in Q1", channel=c.general)
    assert "Planned" in reply.text or "planned" in reply.text, reply.text
    await c.settle()
    monkeypatch.undo()
    told = [m for m in (c.alice, *supporters) if any("Update on #1" in str(d.embeds) for d in c.emu.dms_to(m))]
    assert len(told) == 2  # the rest was cut short

    repeats = c.emu.world.nonce_repeats
    for _ in range(2):
        await c.bot.close()
        async with running_bot(c.settings, c.db, c.clock) as restarted:
            c.bot = restarted
            await c.settle()
    for member in (c.alice, *supporters):
        updates = [d for d in c.emu.dms_to(member) if "Update on #1" in str(d.embeds)]
        assert len(updates) == 1, member
        assert "Shipping in Q1" in str(updates[0].embeds)
    thread = c.emu.thread_of(card)
    assert thread is not None
    posts = [m for m in thread.messages if "Update on #1" in str(m.embeds)]
    assert len(posts) == 1
    assert c.emu.world.nonce_repeats == repeats + 1  # the second DM was sent again and dropped by Discord
