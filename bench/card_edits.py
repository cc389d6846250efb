"""Card edits under a burst: edits per card per 5 s, edits per channel per 5 s, 429s served,
and the time until every card shows its final tally.

    uv run python -m bench.card_edits [--reactions 3000] [--cards 20] [--members 500] [--scale 1.0]

Discord's real limits (the emulator's defaults: 5 message edits per 5 s per channel) and the
bot's real settings (each card at most once per 5 s, 5 edits per 5 s per channel). All cards
share the ideas channel, so the channel bucket is the real limit. `--scale 0.2` shrinks every
window (emulator and bot alike) by that factor for a quicker run; figures are then reported
per scaled window. Writes bench/results/card_edits.json.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from discord_emulator.server import RequestRecord

from bench.common import CORE_EXTENSIONS, community_with_cards, reaction_plan, write_result
from discord_emulator import EmulatorLimits, Limit

EDIT_ROUTE = "/channels/{channel_id}/messages/{message_id}"


def max_in_window(times: list[float], window: float) -> int:
    """The most events inside any half-open window [t, t + window) (sliding)."""
    ordered = sorted(times)
    best = 0
    j = 0
    for i, start in enumerate(ordered):
        j = max(j, i)
        while j < len(ordered) and ordered[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best


def tally_of(message: Any) -> str | None:
    if not message.embeds:
        return None
    for embed_field in message.embeds[0].get("fields", []):
        if embed_field["name"] == "Votes":
            return str(embed_field["value"])
    return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    window = 5.0 * args.scale
    plan = reaction_plan(args.cards, args.members, args.reactions, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        async with community_with_cards(
            Path(tmp),
            cards=args.cards,
            members=args.members,
            limits=EmulatorLimits(message_edit=Limit(5, window)),
            card_edit_interval_seconds=window,
            channel_edits_per_window=5,
            channel_edit_window_seconds=window,
            vote_batch_seconds=0.05,
            extensions=CORE_EXTENSIONS,
        ) as (c, posted, voters):
            expected: dict[int, str] = {}
            for index, message in enumerate(posted):
                ups = sum(1 for i, _, e in plan if i == index and e == "👍")
                downs = sum(1 for i, _, e in plan if i == index and e == "👎")
                expected[message.id] = f"👍 {ups}   👎 {downs}"
            first_request = len(c.emu.requests)
            started = time.monotonic()
            for card_index, member_index, emoji in plan:
                await voters[member_index].react(posted[card_index], emoji)
            burst_s = time.monotonic() - started

            def all_final() -> bool:
                return all(tally_of(c.emu.message(mid)) == want for mid, want in expected.items())

            while not all_final():
                if time.monotonic() - started > 120:
                    raise TimeoutError("cards never showed their final tallies")
                await asyncio.sleep(0.02)
            final_s = time.monotonic() - started
            await c.settle()
            # Linger one more window: no late edits should follow.
            await asyncio.sleep(window)
            records: list[RequestRecord] = [
                r
                for r in c.emu.requests[first_request:]
                if r.method == "PATCH" and r.template == EDIT_ROUTE and r.params.get("channel_id") == str(c.ideas.id)
            ]
            by_card: dict[str, list[float]] = {}
            for record in records:
                by_card.setdefault(record.params["message_id"], []).append(record.time)
            per_card = {mid: max_in_window(times, window) for mid, times in by_card.items()}
            limited = c.emu.stats.rate_limited
            return {
                "reactions": len(plan),
                "cards": args.cards,
                "members": args.members,
                "scale": args.scale,
                "window_s": window,
                "burst_dispatch_s": burst_s,
                "edits_total": len(records),
                "edits_per_card_max_per_window": max(per_card.values(), default=0),
                "edits_per_channel_max_per_window": max_in_window([r.time for r in records], window),
                "rate_limited_429": limited,
                "edit_failures": c.bot.board.scheduler.stats.failures,
                "time_to_final_tallies_s": final_s,
                "time_to_final_tallies_windows": final_s / window,
                "goal": "<= 1 edit per card per window, 0 x 429",
                "pass": max(per_card.values(), default=0) <= 1 and limited == 0,
            }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reactions", type=int, default=3000)
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink every 5 s window by this factor")
    parser.add_argument("--name", default="card_edits")
    arguments = parser.parse_args()
    outcome = asyncio.run(run(arguments))
    path = write_result(arguments.name, outcome)
    print(
        f"{outcome['edits_total']} edits; per card max {outcome['edits_per_card_max_per_window']} per"
        f" {outcome['window_s']:g} s (goal <= 1); channel max {outcome['edits_per_channel_max_per_window']};"
        f" 429s {outcome['rate_limited_429']} (goal 0); final tallies after"
        f" {outcome['time_to_final_tallies_s']:.1f} s -> {path}"
    )
