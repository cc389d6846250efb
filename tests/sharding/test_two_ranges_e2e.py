"""Two bot processes with different shard ranges, one emulator with several guilds, one
PostgreSQL database: each guild is served by exactly one process, each guild's digest is posted
exactly once, and a process killed mid-workload resumes its guilds after a restart with no vote
lost or doubled.

Two processes run on PostgreSQL only (`ideabot run` refuses a second process on SQLite); the
two-range test also runs on SQLite with both bots in this process. PostgreSQL is the test
session's cluster (tests/conftest.py, `pg_cluster`); those tests run when the PostgreSQL backend
is selected (`--backend postgresql` or IDEABOT_TEST_BACKENDS).
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.shards import shard_of
from bot.pgcluster import PostgresCluster
from bot.storage import Database
from bot.testing import (
    MANAGE_GUILD,
    BotSubprocess,
    FakeClock,
    build_community,
    emulator_settings,
    running_bot,
    set_up_guild,
)
from discord_emulator import DiscordEmulator, Message, StoryMember

ROOT = Path(__file__).resolve().parents[2]
UP, DOWN = "👍", "👎"


def psql(url: str, sql: str) -> list[list[str]]:
    out = subprocess.run(
        ["psql", "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


@pytest.fixture
async def pg_url(pg_cluster: PostgresCluster) -> AsyncIterator[str]:
    """A fresh, migrated database on the session's PostgreSQL, dropped afterwards."""
    url = await pg_cluster.new_database()
    yield url
    await pg_cluster.drop_database(url)


@pytest.fixture
async def sharded_emulator(emulator: DiscordEmulator) -> AsyncIterator[DiscordEmulator]:
    emulator.gateway.limits.max_concurrency = 2  # both processes may IDENTIFY at once: buckets 0 and 1
    yield emulator


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgresql), "sqlite"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One database for both shard ranges. On SQLite the two bots are two connections in this one
    process, which SQLite supports (`ideabot run` refuses two processes): the ownership rules
    are checked there without a server; PostgreSQL is the set-up operators run."""
    if request.param == "sqlite":
        return str(tmp_path / "ideabot.sqlite3")
    url: str = request.getfixturevalue("pg_url")
    return url


def rows_of(database: str, sql: str) -> list[list[str]]:
    if database.startswith("postgresql://"):
        return psql(database, sql)
    with sqlite3.connect(database) as conn:
        return [[str(value) for value in row] for row in conn.execute(sql)]


async def test_two_shard_ranges_on_one_database_serve_each_guild_once_and_post_each_digest_once(
    sharded_emulator: DiscordEmulator, shared_database: str
) -> None:
    emu = sharded_emulator
    clock = FakeClock()
    db_zero, db_one = await Database.open(shared_database), await Database.open(shared_database)
    zero = emulator_settings(emu, shared_database, shard_count=2, shard_ids="0")
    one = emulator_settings(emu, shared_database, shard_count=2, shard_ids="1")
    communities = [
        await build_community(emu, db_zero, clock, zero, ["alice", "bob", "carol"], name=f"Guild {n}", shard=(n % 2, 2))
        for n in range(6)
    ]
    try:
        async with running_bot(zero, db_zero, clock) as bot_zero, running_bot(one, db_one, clock) as bot_one:
            bots = {0: bot_zero, 1: bot_one}
            for c in communities:
                c.bot = bots[shard_of(c.guild.id, 2)]
                c.db = c.bot.db
                assert c.bot.get_guild(c.guild.id) is not None
                assert bots[1 - shard_of(c.guild.id, 2)].get_guild(c.guild.id) is None
                await set_up_guild(c)
                card = await c.submit(c.alice, title="Dark mode", details=f"A dark theme for {c.guild.name}")
                await c.bob.react(card, UP)
                await c.carol.react(card, DOWN)
            for c in communities:
                await c.settle()
                fields = {f["name"]: f["value"] for f in c.card(1).embeds[0]["fields"]}
                assert fields["Votes"] == "👍 1   👎 1"
            # Each process answered only its own guilds' interactions.
            for shard, bot in bots.items():
                assert {g.id for g in bot.guilds} == {
                    c.guild.id for c in communities if shard_of(c.guild.id, 2) == shard
                }

            clock.advance(days=8)
            sweeps = await asyncio.gather(*(b.get_cog("Digest").scheduler.sweep() for b in bots.values()))  # type: ignore[union-attr]
            posted = [r.guild_id for results in sweeps for r in results]
            assert sorted(posted) == sorted(c.guild.id for c in communities), "each guild's digest, once"
            for shard, results in enumerate(sweeps):
                assert all(shard_of(r.guild_id, 2) == shard for r in results)
            again = await asyncio.gather(*(b.get_cog("Digest").scheduler.sweep() for b in bots.values()))  # type: ignore[union-attr]
            assert again == [[], []]
            for c in communities:
                digests = [m for m in emu.messages_in(c.digest) if m.author_id == emu.bot_user.id]
                assert len(digests) == 1
        rows = rows_of(
            shared_database, "SELECT guild_id, COUNT(*) FROM digests WHERE status = 'posted' GROUP BY guild_id"
        )
        assert sorted(int(r[0]) for r in rows) == sorted(c.guild.id for c in communities)
        assert {r[1] for r in rows} == {"1"}
    finally:
        await db_zero.close()
        await db_one.close()


# --- two real processes, one killed mid-workload ----------------------------------------------------


class ShardProcess(BotSubprocess):
    def __init__(self, emu: DiscordEmulator, database: str, shard_ids: str, log: Path) -> None:
        env = {
            **os.environ,
            "IDEABOT_TOKEN": "anything",
            "IDEABOT_DATABASE": database,
            "IDEABOT_DISCORD_API_URL": emu.api_url,
            "IDEABOT_DISCORD_GATEWAY_URL": emu.gateway_url,
            "IDEABOT_SHARD_COUNT": "2",
            "IDEABOT_SHARD_IDS": shard_ids,
            "IDEABOT_CARD_EDIT_INTERVAL_SECONDS": "0.3",
            "IDEABOT_CHANNEL_EDIT_WINDOW_SECONDS": "0.5",
            "IDEABOT_VOTE_BATCH_SECONDS": "0.01",
            "IDEABOT_LOG_LEVEL": "WARNING",
        }
        super().__init__(env, log)


def truth(emu: DiscordEmulator, card: Message, author_id: int) -> tuple[int, int]:
    ignored = {emu.bot_user.id, author_id}
    return len(set(card.reactions.get(UP, [])) - ignored), len(set(card.reactions.get(DOWN, [])) - ignored)


def tallies(url: str) -> dict[int, tuple[int, int, int, int]]:
    """message id -> (ups, downs) stored on the idea and (ups, downs) counted in the votes rows,
    read in one statement (one snapshot) while the bots may be writing."""
    rows = psql(
        url,
        "SELECT i.message_id, i.upvotes, i.downvotes,"
        " (SELECT COUNT(*) FROM votes v WHERE v.idea_id = i.id AND v.value = 1),"
        " (SELECT COUNT(*) FROM votes v WHERE v.idea_id = i.id AND v.value = -1) FROM ideas i",
    )
    return {int(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


@pytest.mark.postgresql
async def test_one_of_two_processes_killed_mid_workload_resumes_its_guilds_losing_and_doubling_nothing(
    sharded_emulator: DiscordEmulator, pg_url: str, tmp_path: Path
) -> None:
    emu = sharded_emulator
    guilds = []
    for n in range(4):
        guild = emu.create_guild(f"Guild {n}", shard=(n % 2, 2))
        general = guild.create_text_channel("general")
        ideas = guild.create_text_channel("ideas")
        digest = guild.create_text_channel("digest")
        mod_role = guild.create_role("Moderators", permissions=MANAGE_GUILD)
        mod = guild.add_member("mod", roles=[mod_role], account_age=timedelta(days=900))
        author = guild.add_member("alice", account_age=timedelta(days=400))
        voters = [guild.add_member(f"v{i}", account_age=timedelta(days=300)) for i in range(25)]
        guilds.append((guild, general, ideas, digest, mod, author, voters))
    processes = [ShardProcess(emu, pg_url, str(shard), tmp_path / f"shard{shard}.log") for shard in (0, 1)]
    try:
        for process in processes:
            process.start()
        await emu.wait_for(lambda: emu.gateway.shard_connected(0, 2) and emu.gateway.shard_connected(1, 2), timeout=30)
        await emu.wait_for(lambda: bool(emu.world.global_commands), timeout=20)
        cards: list[tuple[Message, int, list[StoryMember]]] = []
        for _guild, general, ideas, digest, mod, author, voters in guilds:
            reply = await mod.run(
                "/ideamod setup", ideas_channel=ideas, digest_channel=digest, channel=general, timeout=15
            )
            assert "Set up" in reply.text, reply.text
            await author.run("/idea submit", title="Dark mode please", details="Concrete details", channel=general)
            cards.append((emu.messages_in(ideas)[-1], author.id, voters))

        rng = random.Random(14)
        held: dict[tuple[int, int], str] = {}

        async def vote(n: int) -> None:
            for _ in range(n):
                card, _, voters = rng.choice(cards)
                voter = rng.choice(voters)
                current = held.pop((voter.id, card.id), None)
                if current is not None:
                    await voter.unreact(card, current)
                    if rng.random() < 0.5:
                        continue
                emoji = UP if rng.random() < 0.7 else DOWN
                await voter.react(card, emoji)
                held[(voter.id, card.id)] = emoji
                await asyncio.sleep(0.002)

        await vote(150)
        processes[1].kill()  # mid-stream: shard 1's guilds lose their process
        await vote(100)  # shard 0's guilds are still served; shard 1's events go nowhere
        identifies = emu.gateway.stats.identifies
        processes[1].start()
        await emu.wait_for(
            lambda: emu.gateway.stats.identifies > identifies and emu.gateway.shard_connected(1, 2), timeout=30
        )
        await vote(60)

        want = {card.id: truth(emu, card, author_id) for card, author_id, _ in cards}

        def settled() -> bool:
            try:
                found = tallies(pg_url)
            except subprocess.CalledProcessError:
                return False
            # The stored tallies equal the reactions and the votes rows: nothing lost or doubled.
            return all(found.get(mid) == (*tally, *tally) for mid, tally in want.items())

        await emu.wait_for(settled, timeout=30, interval=0.2)
        for card, _, _ in cards:
            ups, downs = want[card.id]
            await emu.wait_for(
                lambda card=card, ups=ups, downs=downs: any(
                    f["value"] == f"👍 {ups}   👎 {downs}" for f in card.embeds[0]["fields"] if f["name"] == "Votes"
                ),
                timeout=15,
            )
        # Reputation: no vote credited twice (a voter's net credit on an idea is 0 or 1 point).
        doubled = psql(
            pg_url,
            "SELECT idea_id, voter_id, SUM(delta) FROM reputation_events WHERE source IN ('upvote', 'reversal')"
            " AND voter_id IS NOT NULL GROUP BY idea_id, voter_id HAVING SUM(delta) NOT IN (0, 1)",
        )
        assert doubled == []
    finally:
        for process in processes:
            process.stop()
