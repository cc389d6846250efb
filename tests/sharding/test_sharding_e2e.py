"""End to end through the emulator with several guilds on two shards: one process running both
shards serves every guild on its own shard's session and posts each guild's digest once; a
process running shard 0 of 2 leaves shard 1's guilds alone in its jobs (no digest, no recount)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.client import ShardedIdeaBot
from bot.core.shards import shard_of
from bot.storage import Database
from bot.testing import Community, FakeClock, build_community, emulator_settings, running_bot, set_up_guild
from discord_emulator import DiscordEmulator
from tests.delivery.test_delivery_e2e import add_webhook, receiver

TUESDAY = datetime(2030, 3, 5, 12, tzinfo=UTC)  # ISO week 2030-W10
NEXT_MONDAY_9 = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)
REACTIONS = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}"


def votes_field(c: Community, number: int) -> str:
    return {f["name"]: f["value"] for f in c.card(number).embeds[0]["fields"]}["Votes"]


def bot_messages(c: Community, channel: Any) -> list[Any]:
    return [m for m in c.emu.messages_in(channel) if m.author_id == c.emu.bot_user.id]


async def guilds_on_two_shards(
    emu: DiscordEmulator, db: Database, clock: FakeClock, settings: Any, per_shard: int = 2
) -> list[Community]:
    return [
        await build_community(emu, db, clock, settings, ["alice", "bob", "carol"], name=f"Guild {n}", shard=(n % 2, 2))
        for n in range(2 * per_shard)
    ]


def digest_cog(bot: Any) -> Any:
    cog = bot.get_cog("Digest")
    assert cog is not None
    return cog


async def test_one_process_with_both_shards_serves_every_guild_and_posts_each_digest_once(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = emulator
    path = str(tmp_path / "ideabot.sqlite3")
    db = await Database.open(path)
    clock = FakeClock(TUESDAY)
    settings = emulator_settings(emu, path, shard_count=2, shard_ids="0-1")
    communities = await guilds_on_two_shards(emu, db, clock, settings)
    try:
        async with running_bot(settings, db, clock) as bot:
            assert isinstance(bot, ShardedIdeaBot) and sorted(bot.shards) == [0, 1]
            assert {(0, 2), (1, 2)} <= set(emu.gateway.shards)
            for c in communities:
                c.bot = bot
                await set_up_guild(c)
            for c in communities:
                card = await c.submit(c.alice, title="Dark mode", details=f"A dark theme for {c.guild.name}")
                await c.bob.react(card, "👍")
                await c.carol.react(card, "👎")
            for c in communities:
                await c.settle()
            for c in communities:
                assert votes_field(c, 1) == "👍 1   👎 1"
                # Each guild's interactions and reactions came only on the session of its shard.
                shard = shard_of(c.guild.id, 2)
                frames = emu.gateway.sent_by_shard[(shard, 2)]
                mine = [f for f in frames if f["t"] == "MESSAGE_REACTION_ADD" and int(f["d"]["guild_id"]) == c.guild.id]
                assert len(mine) >= 2
                other = emu.gateway.sent_by_shard[(1 - shard, 2)]
                assert not [f for f in other if f["d"].get("guild_id") == str(c.guild.id)]

            clock.now = NEXT_MONDAY_9 + timedelta(seconds=5)
            posted = await digest_cog(bot).scheduler.sweep()
            assert sorted(r.guild_id for r in posted) == sorted(c.guild.id for c in communities)
            assert await digest_cog(bot).scheduler.sweep() == []
            for c in communities:
                assert len(bot_messages(c, c.digest)) == 1
    finally:
        await db.close()


async def test_a_process_with_shard_0_of_2_leaves_shard_1_guilds_to_their_owner(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = emulator
    path = str(tmp_path / "ideabot.sqlite3")
    db = await Database.open(path)
    clock = FakeClock(TUESDAY)
    both = emulator_settings(emu, path, shard_count=2)
    communities = await guilds_on_two_shards(emu, db, clock, both, per_shard=1)
    ours = next(c for c in communities if shard_of(c.guild.id, 2) == 0)
    theirs = next(c for c in communities if shard_of(c.guild.id, 2) == 1)
    try:
        # A first run with both shards sets both guilds up and posts a card in each.
        async with running_bot(both, db, clock) as bot:
            for c in communities:
                c.bot = bot
                await set_up_guild(c)
                await c.submit(c.alice, title="Dark mode", details=f"A dark theme for {c.guild.name}")
                reply = await c.mod.run(
                    "/challenge open",
                    title="Greener",
                    brief="Ideas for a greener office",
                    deadline="2030-03-07 12:00",
                    channel=c.general,
                )
                assert "is open" in reply.text, reply.text
            for c in communities:
                await c.settle()
        # While no bot runs, members vote in both guilds: only a recount can see these votes.
        for c in communities:
            await c.bob.react(c.card(1), "👍")
        emu.requests.clear()
        clock.now = NEXT_MONDAY_9 + timedelta(seconds=5)
        only_zero = emulator_settings(emu, path, shard_count=2, shard_ids="0")
        async with running_bot(only_zero, db, clock) as bot:
            ours.bot = theirs.bot = bot
            assert sorted(bot.shards) == [0] and (1, 2) not in emu.gateway.shards
            await ours.settle()
            assert votes_field(ours, 1) == "👍 1   👎 0"  # recounted at shard 0's READY
            cog = digest_cog(bot)
            await emu.wait_for(lambda: cog.caught_up.is_set(), timeout=10)
            assert [r.guild_id for r in await cog.scheduler.sweep()] in ([ours.guild.id], [])
            assert len(bot_messages(ours, ours.digest)) == 1
            assert cog.scheduler.next_run(theirs.guild.id) is None
            # Shard 1's guild: no recount read its card, no digest, no card edit.
            assert emu.requests_to("GET", REACTIONS, channel_id=str(ours.ideas.id))
            assert not emu.requests_to("GET", REACTIONS, channel_id=str(theirs.ideas.id))
            assert bot_messages(theirs, theirs.digest) == []
            assert votes_field(theirs, 1) == "👍 0   👎 0"
            # The challenge past its deadline closes in shard 0's guild only.
            await bot.services.programmes.tick(clock())
            closed = dict(list(await (await db.conn.execute("SELECT guild_id, closed_at FROM challenges")).fetchall()))
            assert closed[ours.guild.id] is not None and closed[theirs.guild.id] is None
            row = await (
                await db.conn.execute("SELECT upvotes FROM ideas WHERE guild_id = ?", (theirs.guild.id,))
            ).fetchone()
            assert row is not None and row[0] == 0
    finally:
        await db.close()


async def test_webhook_deliveries_left_in_the_database_are_sent_by_their_guilds_process_only(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = emulator
    path = str(tmp_path / "ideabot.sqlite3")
    db = await Database.open(path)
    clock = FakeClock(TUESDAY)
    both = emulator_settings(emu, path, shard_count=2, webhook_allow_private=True)
    communities = await guilds_on_two_shards(emu, db, clock, both, per_shard=1)
    try:
        async with receiver() as r:
            async with running_bot(both, db, clock) as bot:
                r.always = 500  # nothing gets through: every delivery stays owed in the database
                for c in communities:
                    c.bot = bot
                    await set_up_guild(c)
                    await add_webhook(c, r.url, "idea.created")
                    await c.submit(c.alice, title="Dark mode", details=f"A dark theme for {c.guild.name}")
                await bot.services.webhooks.deliver_due()
            assert r.delivered() == []
            r.always = None
            clock.advance(hours=2)
            delivered: dict[int, list[int]] = {}
            for shard in (0, 1):
                settings = emulator_settings(emu, path, shard_count=2, shard_ids=str(shard), webhook_allow_private=True)
                before = len(r.delivered())  # the delivery worker starts with the bot
                async with running_bot(settings, db, clock) as bot:
                    await bot.services.webhooks.deliver_due()
                    delivered[shard] = [int(body["guild_id"]) for body in r.delivered()[before:]]
            for c in communities:
                assert delivered[shard_of(c.guild.id, 2)] == [c.guild.id], "sent once, by its own shard's process"
    finally:
        await db.close()


async def test_a_shard_that_loses_its_session_recounts_only_its_own_guilds(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    emu = emulator
    path = str(tmp_path / "ideabot.sqlite3")
    db = await Database.open(path)
    clock = FakeClock(TUESDAY)
    settings = emulator_settings(emu, path, shard_count=2)
    communities = await guilds_on_two_shards(emu, db, clock, settings, per_shard=1)
    ours = next(c for c in communities if shard_of(c.guild.id, 2) == 1)
    other = next(c for c in communities if shard_of(c.guild.id, 2) == 0)
    try:
        async with running_bot(settings, db, clock) as bot:
            for c in communities:
                c.bot = bot
                await set_up_guild(c)
                await c.submit(c.alice, title="Dark mode", details=f"A dark theme for {c.guild.name}")
            for c in communities:
                await c.settle()
            recounts = bot.recounts
            emu.requests.clear()
            # Shard 1's session ends for good; while it is away, a vote in its guild goes unheard.
            await emu.gateway.drop(shard=1, resume=False, hold=0.3)
            await ours.bob.react(ours.card(1), "👍")
            await emu.wait_for(lambda: bot.recounts > recounts, timeout=20)
            await ours.settle()
            assert votes_field(ours, 1) == "👍 1   👎 0"  # recounted at shard 1's new READY
            assert emu.requests_to("GET", REACTIONS, channel_id=str(ours.ideas.id))
            assert not emu.requests_to("GET", REACTIONS, channel_id=str(other.ideas.id)), "shard 0 was not touched"
            assert bot.recounts == recounts + 1
    finally:
        await db.close()
