"""Vote ingest: how fast reaction events become durable votes, against the stack's ceiling.

    uv run python -m bench.vote_ingest [--events 20000] [--cards 50] [--members 2000] [--rounds 3]
                                       [--profile] [--all-cogs] [--database URL|postgresql]

--database: a PostgreSQL URL (each round makes a scratch database on that server), or
`postgresql` to start a throwaway local cluster (bot/pgcluster.py; fsync on, commits flushed
in the background as with SQLite's WAL and synchronous=NORMAL); default: SQLite files.

Each round streams the same plan of reaction events (distinct member x card pairs, 75 % 👍),
dispatched by the local emulator as fast as it can, to
  - the bot (real IdeaBot with the vote pipeline's cogs, or every cog with --all-cogs, on a
    fresh SQLite file): timed until every vote is in the votes table (durable), and until
    every effect (VoteChanged handlers: reputation, stage thresholds) has run;
  - a bare discord.py Client with the same intents and an on_raw_reaction_add that only counts:
    the ceiling (gateway parsing + discord.py dispatch + the emulator's own cost).
The emulator's cost of creating and sending each event is the same in both, so the ratio is fair.
Both sides start each round from a collected, frozen heap (bench.common.settled_heap), and the
side that goes first alternates between rounds. CPU is reported for the process and for the
event loop's thread (the rest is the bot's database thread).
Writes bench/results/vote_ingest.json (and vote_ingest_profile.txt with --profile).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    CORE_EXTENSIONS,
    RESULTS,
    community_with_cards,
    median,
    reaction_plan,
    running_bare_client,
    settled_heap,
    wait_until,
    write_result,
)
from bot.client import EXTENSIONS
from bot.testing import events_delivered
from discord_emulator import DiscordEmulator, EmulatorLimits, Message


async def count_votes(c: Any) -> int:
    async with c.db.conn.execute("SELECT COUNT(*) FROM votes") as cursor:
        row = await cursor.fetchone()
    return int(row[0])


async def bot_round(
    plan: list[tuple[int, int, str]],
    cards: int,
    members: int,
    profile: bool,
    all_cogs: bool,
    shard_count: int | None = None,
    database: str | None = None,
) -> dict[str, float]:
    sharding: dict[str, Any] = {} if shard_count is None else {"shard_count": shard_count}
    with tempfile.TemporaryDirectory() as tmp:
        # The bot's real settings: 5 s per card, 5 edits per 5 s per channel, 50 ms batches.
        async with community_with_cards(
            Path(tmp),
            cards=cards,
            members=members,
            card_edit_interval_seconds=5.0,
            channel_edits_per_window=5,
            channel_edit_window_seconds=5.0,
            vote_batch_seconds=0.05,
            extensions=EXTENSIONS if all_cogs else CORE_EXTENSIONS,
            **sharding,
            database=database,
        ) as (c, posted, voters):
            with settled_heap():  # the same starting heap as the bare client's round
                profiler = None
                if profile:
                    from pyinstrument import Profiler

                    profiler = Profiler(async_mode="disabled")
                    profiler.start()
                started, cpu_started, loop_cpu_started = time.perf_counter(), time.process_time(), time.thread_time()
                # Durable = every delivered event's batch committed (the writer marks an event done
                # only after its transaction commits); checked without querying the bot's database,
                # so the measurement adds no work the bare client does not have.
                for card_index, member_index, emoji in plan:
                    await voters[member_index].react(posted[card_index], emoji)
                dispatched = time.perf_counter()
                await events_delivered(c.bot, c.emu, timeout=300)
                delivered = time.perf_counter()
                await asyncio.wait_for(c.bot.votes.wait_durable(), 300)
                durable_at = [time.perf_counter()]
                durable_cpu = [time.process_time()]
                durable_loop_cpu = [time.thread_time()]
                assert await count_votes(c) == len(plan)
                if profiler is not None:  # the profile covers the stream until every vote is durable
                    profiler.stop()
                    (RESULTS / "vote_ingest_profile.txt").write_text(
                        profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8"
                    )
                await asyncio.wait_for(c.bot.votes.flush(), 600)
                settled = time.perf_counter()
                sums = "SELECT COALESCE(SUM(upvotes), 0), COALESCE(SUM(downvotes), 0) FROM ideas"
                async with c.db.conn.execute(sums) as cur:
                    ups, downs = await cur.fetchone()
                want_ups = sum(1 for _, _, e in plan if e == "👍")
                assert (ups, downs) == (want_ups, len(plan) - want_ups), (ups, downs)
                return {
                    "dispatch_s": dispatched - started,
                    "delivered_s": delivered - started,
                    "durable_s": durable_at[0] - started,
                    "durable_cpu_s": durable_cpu[0] - cpu_started,
                    "durable_loop_thread_cpu_s": durable_loop_cpu[0] - loop_cpu_started,
                    "settled_s": settled - started,
                }


async def bare_round(plan: list[tuple[int, int, str]], cards: int, members: int) -> dict[str, float]:
    emu = DiscordEmulator(limits=EmulatorLimits(enabled=False), validate_spec=False)
    await emu.start()
    try:
        guild = emu.create_guild("Ideas Lab")
        channel = guild.create_text_channel("ideas")
        voters = [guild.add_member(f"voter{i}", account_age=timedelta(days=300)) for i in range(members)]
        messages: list[Message] = [await voters[0].say(f"card {i}", channel=channel) for i in range(cards)]
        async with running_bare_client(emu) as client:
            with settled_heap():
                started, cpu_started, loop_cpu_started = time.perf_counter(), time.process_time(), time.thread_time()
                for card_index, member_index, emoji in plan:
                    await voters[member_index].react(messages[card_index], emoji)
                dispatched = time.perf_counter()
                await wait_until(lambda: client.count >= len(plan), 300)
                received = time.perf_counter()
                return {
                    "dispatch_s": dispatched - started,
                    "received_s": received - started,
                    "received_cpu_s": time.process_time() - cpu_started,
                    "received_loop_thread_cpu_s": time.thread_time() - loop_cpu_started,
                }
    finally:
        await emu.stop()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    cluster = None
    if args.database == "postgresql":
        from bot.pgcluster import PostgresCluster

        cluster = PostgresCluster(crash_safe=True)
        cluster.start()
        args.database = cluster.admin_url
    try:
        return await _main(args)
    finally:
        if cluster is not None:
            cluster.stop()


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    plan = reaction_plan(args.cards, args.members, args.events)
    bots: list[dict[str, float]] = []
    bares: list[dict[str, float]] = []
    for i in range(args.rounds):
        profile = args.profile and i == 0
        # Alternate which side goes first, so neither always runs in a process warmed by the other.
        if i % 2:
            bots.append(
                await bot_round(
                    plan,
                    args.cards,
                    args.members,
                    profile=profile,
                    all_cogs=args.all_cogs,
                    shard_count=args.shard_count,
                    database=args.database,
                )
            )
            bares.append(await bare_round(plan, args.cards, args.members))
        else:
            bares.append(await bare_round(plan, args.cards, args.members))
            bots.append(
                await bot_round(
                    plan,
                    args.cards,
                    args.members,
                    profile=profile,
                    all_cogs=args.all_cogs,
                    shard_count=args.shard_count,
                    database=args.database,
                )
            )
        print(f"round {i + 1}: bare {bares[-1]}  bot {bots[-1]}", flush=True)
    n = len(plan)
    ceiling = [n / b["received_s"] for b in bares]
    durable = [n / b["durable_s"] for b in bots]
    settled = [n / b["settled_s"] for b in bots]
    ratios = [d / c for d, c in zip(durable, ceiling, strict=True)]
    result = {
        "events": n,
        "cards": args.cards,
        "members": args.members,
        "rounds": args.rounds,
        "extensions": list(EXTENSIONS if args.all_cogs else CORE_EXTENSIONS),
        "shard_count": args.shard_count,
        "database": "postgresql" if args.database else "sqlite",
        "ceiling_events_per_s": median(ceiling),
        "bot_durable_events_per_s": median(durable),
        "bot_all_effects_events_per_s": median(settled),
        "ratio_durable_to_ceiling": median(ratios),
        "goal_ratio": 0.9,
        "pass": median(ratios) >= 0.9,
        "per_round": {"bare": bares, "bot": bots, "ratios": ratios},
    }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--cards", type=int, default=50)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile the first bot round with pyinstrument")
    parser.add_argument(
        "--all-cogs", action="store_true", help="load every feature cog (reputation, stages and their DMs)"
    )
    parser.add_argument(
        "--shard-count", type=int, default=None, help="run the bot as an AutoShardedBot with this many shards"
    )
    parser.add_argument(
        "--database", help="a postgresql:// URL, or `postgresql` for a throwaway local cluster (default: SQLite)"
    )
    parser.add_argument("--name", default="vote_ingest", help="result file name (bench/results/<name>.json)")
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    path = write_result(arguments.name, outcome)
    print(
        f"ceiling {outcome['ceiling_events_per_s']:.0f} ev/s, bot durable {outcome['bot_durable_events_per_s']:.0f}"
        f" ev/s, ratio {outcome['ratio_durable_to_ceiling']:.2f} (goal >= 0.9); all effects"
        f" {outcome['bot_all_effects_events_per_s']:.0f} ev/s -> {path}"
    )
