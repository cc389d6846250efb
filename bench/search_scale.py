"""Search and the duplicate check on a board of 100,000 open ideas (lexical path).

    uv run python -m bench.search_scale [--ideas 100000] [--votes-per-idea 10] [--samples 200] [--rate 500]

1. Seeds the board with `ideabot db seed`'s code (the first idea, the oldest, is a distinctive
   one), timing the seeding.
2. Bot time: `IdeaService.search` and `DuplicateService.find_similar` called directly, over
   queries and drafts drawn from the board's vocabulary; p50/p99 after a warm-up; and whether a
   paraphrase of the oldest idea is found.
3. Through the emulator: the real bot (every cog) on that board while `--rate` reaction events
   per second stream in on 20 real cards; members run `/idea search` and `/idea submit` (the
   duplicate check) in turn; each sample is the time from the emulator dispatching the
   interaction to the bot's first callback.
The process runs with the bot's own garbage-collector settings (bot/runner.py), as `ideabot
run` does. `--bot-time-only` skips step 3. Writes bench/results/search_scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import community_with_cards, percentile, write_result
from bench.interaction_latency import stream_votes
from bot.events.bus import EventBus
from bot.ideas.service import IdeaService
from bot.runner import tune_garbage_collection
from bot.search.duplicates import DuplicateService
from bot.storage import Database
from bot.storage.seed import PLACES, SUBJECTS, VERBS, seed_community

OLDEST = {"title": "Heated benches at the tram stops", "details": "Warm seats while waiting for the tram in winter."}
OLDEST_PARAPHRASE = ("Warm seating at tram stops", "In winter the benches where we wait for trams should be heated.")


def queries(rng: random.Random, count: int) -> list[str]:
    words = [w for phrase in (*SUBJECTS, *PLACES, *VERBS) for w in phrase.split() if len(w) > 2]
    return [" ".join(rng.sample(words, rng.choice((1, 1, 2, 2, 3)))) for _ in range(count)]


def drafts(rng: random.Random, count: int) -> list[tuple[str, str]]:
    found = []
    for _ in range(count):
        subject, place = rng.choice(SUBJECTS), rng.choice(PLACES)
        found.append((f"{subject.capitalize()} {place}", f"It would help to {rng.choice(VERBS)} {subject} {place}."))
    return found


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99), "max_ms": max(values)}


async def seed(db: Database, guild_id: int, args: argparse.Namespace, tmp: Path) -> float:
    texts = tmp / "oldest.jsonl"
    texts.write_text(json.dumps(OLDEST) + "\n", encoding="utf-8")
    started = time.perf_counter()
    await seed_community(db, guild_id, args.ideas, args.votes_per_idea, datetime.now(UTC), texts=texts)
    return time.perf_counter() - started


async def bot_time(db: Database, guild_id: int, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(5)
    ideas = IdeaService(db, None, EventBus())  # type: ignore[arg-type]  # reads only: no board
    duplicates = DuplicateService(db, None, EventBus())  # type: ignore[arg-type]
    search_ms: list[float] = []
    for i, query in enumerate(queries(rng, args.samples + 20)):
        started = time.perf_counter()
        await ideas.search(guild_id, query)
        if i >= 20:
            search_ms.append((time.perf_counter() - started) * 1000)
    check_ms: list[float] = []
    for i, (title, details) in enumerate(drafts(rng, args.samples + 20)):
        started = time.perf_counter()
        await duplicates.find_similar(guild_id, title, details)
        if i >= 20:
            check_ms.append((time.perf_counter() - started) * 1000)
    found = await duplicates.find_similar(guild_id, *OLDEST_PARAPHRASE)
    return {
        "search": summary(search_ms),
        "duplicate_check": summary(check_ms),
        "oldest_idea_paraphrase_found": any(f.number == 1 for f in found),
        "oldest_idea_matches": [(f.number, round(f.score, 3)) for f in found],
    }


async def through_emulator(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    async with community_with_cards(tmp, cards=20, members=300) as (c, posted, voters):
        await c.mod.run("/ideamod limits", cooldown_seconds=0, daily_quota=0, channel=c.general)
        seconds = await seed(c.db, c.guild.id, args, tmp)
        rng = random.Random(9)
        members = [c.guild.add_member(f"asker{i}", account_age=timedelta(days=300)) for i in range(40)]
        stop, sent = asyncio.Event(), [0]
        streamer = asyncio.create_task(stream_votes(args.rate, posted, voters, stop, sent))
        search_ack: list[float] = []
        submit_ack: list[float] = []
        started = time.perf_counter()
        try:
            for i in range(args.emulator_samples):
                member = members[i % len(members)]
                reply = await member.run("/idea search", query=queries(rng, 1)[0], channel=c.general)
                assert reply.ack_seconds is not None, reply.text
                search_ack.append(reply.ack_seconds * 1000)
                title, details = drafts(rng, 1)[0]
                reply = await member.run("/idea submit", title=title, details=details, channel=c.general)
                assert reply.ack_seconds is not None, reply.text
                submit_ack.append(reply.ack_seconds * 1000)
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await streamer
        elapsed = time.perf_counter() - started
        return {
            "seed_seconds": seconds,
            "votes_per_s_streamed": sent[0] / elapsed,
            "search_ack": summary(search_ack),
            "submit_ack": summary(submit_ack),
        }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tune_garbage_collection()
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(str(Path(tmp) / "board.sqlite3"))
        try:
            seconds = await seed(db, 42, args, Path(tmp))
            print(f"seeded {args.ideas} ideas x {args.votes_per_idea} votes in {seconds:.1f} s", flush=True)
            direct = await bot_time(db, 42, args)
            print(f"bot time: {direct}", flush=True)
        finally:
            await db.close()
        emulated = None if args.bot_time_only else await through_emulator(args, Path(tmp))
        print(f"through the emulator: {emulated}", flush=True)
    return {
        "ideas": args.ideas,
        "votes_per_idea": args.votes_per_idea,
        "seed_seconds": seconds,
        "bot_time": direct,
        "through_emulator": emulated,
        "goals": {"bot_time_p99_ms": 50, "ack_p99_ms": 200, "seed_seconds": 60},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ideas", type=int, default=100_000)
    parser.add_argument("--votes-per-idea", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--emulator-samples", type=int, default=100)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--bot-time-only", action="store_true", help="skip the run through the emulator")
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    print(f"-> {write_result('search_scale', outcome)}")
