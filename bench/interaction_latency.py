"""Slash-command acknowledgement latency while votes stream in.

    uv run python -m bench.interaction_latency [--commands 300] [--rate 500] [--runs 3] [--all-cogs]

A member runs `/idea show id:1` again and again; each sample is the time from the emulator
dispatching INTERACTION_CREATE to the bot's callback (POST /interactions/{id}/{token}/callback)
arriving at the emulator, taken from `member.run(...)` (which returns when the callback
arrived). Meanwhile the emulator streams `--rate` reaction events per second over 20 cards,
paced in 10 ms slices, in `--runs` runs (the median p99 is the figure). The same is measured
with no stream (idle) after a 20-call warm-up; the very first call is reported apart.
Writes bench/results/interaction_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import CORE_EXTENSIONS, community_with_cards, median, percentile, write_result
from bot.client import EXTENSIONS
from discord_emulator import Message, StoryMember


async def stream_votes(
    rate: int, posted: list[Message], voters: list[StoryMember], stop: asyncio.Event, sent: list[int]
) -> None:
    """`rate` reaction events per second: add, and remove again on the next pass."""
    pairs = itertools.cycle([(v, m) for m in posted for v in voters])
    held: set[tuple[int, int]] = set()
    slice_s = 0.01
    per_slice = max(1, round(rate * slice_s))
    next_at = time.monotonic()
    while not stop.is_set():
        for _ in range(per_slice):
            voter, message = next(pairs)
            key = (voter.id, message.id)
            if key in held:
                held.discard(key)
                await voter.unreact(message, "👍")
            else:
                held.add(key)
                await voter.react(message, "👍")
            sent[0] += 1
        next_at += slice_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def sample(member: StoryMember, channel: Any, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        reply = await member.run("/idea show", id=1, channel=channel)
        latencies.append((time.perf_counter() - started) * 1000)
        assert reply.embeds, reply.text
        await asyncio.sleep(0.005)
    return latencies


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": median(values),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values),
        "n": len(values),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with community_with_cards(
            Path(tmp),
            cards=20,
            members=400,
            card_edit_interval_seconds=5.0,
            channel_edits_per_window=5,
            channel_edit_window_seconds=5.0,
            vote_batch_seconds=0.05,
            extensions=EXTENSIONS if args.all_cogs else CORE_EXTENSIONS,
        ) as (c, posted, voters):
            member = c.members["author0"]
            cold = await sample(member, c.general, 1)
            await sample(member, c.general, 20)  # warm-up: first calls import and compile
            idle = await sample(member, c.general, args.commands // 3)
            runs, achieved = [], []
            for _ in range(args.runs):
                stop = asyncio.Event()
                sent = [0]
                streamer = asyncio.create_task(stream_votes(args.rate, posted, voters, stop, sent))
                await asyncio.sleep(1.0)  # let the stream reach its pace
                stream_started, sent_before = time.monotonic(), sent[0]
                runs.append(summary(await sample(member, c.general, args.commands)))
                achieved.append((sent[0] - sent_before) / (time.monotonic() - stream_started))
                stop.set()
                await streamer
                await c.settle()
            p99 = median([run["p99_ms"] for run in runs])
            return {
                "commands_per_run": args.commands,
                "runs": args.runs,
                "target_votes_per_s": args.rate,
                "achieved_votes_per_s": median(achieved),
                "extensions": list(EXTENSIONS if args.all_cogs else CORE_EXTENSIONS),
                "first_call_ms": cold[0],
                "idle": summary(idle),
                "under_load": {
                    "p50_ms": median([run["p50_ms"] for run in runs]),
                    "p99_ms": p99,
                    "worst_run_p99_ms": max(run["p99_ms"] for run in runs),
                },
                "per_run": runs,
                "goal": "p99 < 50 ms under load",
                "pass": p99 < 50,
            }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3, help="loaded runs; the median p99 is reported")
    parser.add_argument("--all-cogs", action="store_true", help="load every feature cog")
    parser.add_argument("--name", default="interaction_latency")
    arguments = parser.parse_args()
    outcome = asyncio.run(run(arguments))
    path = write_result(arguments.name, outcome)
    load = outcome["under_load"]
    print(
        f"under {outcome['achieved_votes_per_s']:.0f} votes/s: p50 {load['p50_ms']:.1f} ms, p99"
        f" {load['p99_ms']:.1f} ms (median of {outcome['runs']} runs; worst {load['worst_run_p99_ms']:.1f});"
        f" goal < 50; idle p50 {outcome['idle']['p50_ms']:.1f} ms -> {path}"
    )
