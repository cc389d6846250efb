"""Recount after downtime: how long the bot takes to make its votes match the cards' reactions.

    uv run python -m bench.recount [--cards 3] [--members 3000]

Every member's reaction (75 % 👍) is put on every card while the bot does not hear of it (as
if it had been offline), then the bot recounts: it reads each card's reactions from the
emulator's REST API, 100 users a page, and writes what changed. Timed: VoteService.recount
over the cards. The tallies are checked. Writes bench/results/recount.json.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import CORE_EXTENSIONS, community_with_cards, write_result
from bot.ideas import storage as idea_queries
from discord_emulator import EmulatorLimits


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with community_with_cards(
            Path(tmp),
            cards=args.cards,
            members=args.members,
            limits=EmulatorLimits(enabled=False),
            extensions=CORE_EXTENSIONS,
        ) as (c, posted, voters):
            for index, voter in enumerate(voters):  # straight into the emulator: no gateway event
                for message in posted:
                    bisect.insort(message.reactions.setdefault("👎" if index % 4 == 0 else "👍", []), voter.id)
            ideas = await idea_queries.recently_active_cards(c.db.conn, c.clock() - timedelta(days=1))
            started = time.perf_counter()
            fixed = await c.bot.votes.recount(ideas, c.bot.reaction_reader)
            elapsed = time.perf_counter() - started
            async with c.db.conn.execute("SELECT SUM(upvotes), SUM(downvotes) FROM ideas") as cursor:
                ups, downs = await cursor.fetchone()
            downs_per_card = (args.members + 3) // 4
            assert (ups, downs) == ((args.members - downs_per_card) * args.cards, downs_per_card * args.cards)
            return {"cards": args.cards, "members": args.members, "votes_fixed": fixed, "recount_s": elapsed}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=3)
    parser.add_argument("--members", type=int, default=3000)
    outcome = asyncio.run(main(parser.parse_args()))
    path = write_result("recount", outcome)
    fixed, cards, seconds = outcome["votes_fixed"], outcome["cards"], outcome["recount_s"]
    print(f"recount fixed {fixed} votes on {cards} cards in {seconds:.2f} s -> {path}")
