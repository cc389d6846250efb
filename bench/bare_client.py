"""The ceiling as its own process: a bare discord.py client with the bot's intents that only
counts reaction events. Prints `ready` once connected and `done <unix time>` when it has seen
IDEABOT_BENCH_EXPECT events (bench/ingest_processes.py reads both lines).

    IDEABOT_DISCORD_API_URL=... IDEABOT_DISCORD_GATEWAY_URL=... IDEABOT_BENCH_EXPECT=60000 \
        uv run python -m bench.bare_client
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import discord
import yarl

from bench.common import BareClient
from bot.testing import TEST_TOKEN


class CountingClient(BareClient):
    def __init__(self, expect: int) -> None:
        super().__init__()
        self.expect = expect

    async def on_ready(self) -> None:
        print("ready", flush=True)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.count += 1
        if self.count == self.expect:
            print(f"done {time.time():.6f}", flush=True)


async def main() -> None:
    discord.http.Route.BASE = os.environ["IDEABOT_DISCORD_API_URL"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["IDEABOT_DISCORD_GATEWAY_URL"])
    client = CountingClient(int(os.environ["IDEABOT_BENCH_EXPECT"]))
    async with client:
        await client.start(TEST_TOKEN)


if __name__ == "__main__":
    if os.environ.get("IDEABOT_BENCH_UVLOOP") == "1" and sys.platform != "win32":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
