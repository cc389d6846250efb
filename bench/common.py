"""Shared by the benchmarks: a community with many cards, a bare discord.py client, results.

Everything runs in one process and one event loop: the local emulator (REST + gateway), and
the real discord.py client (the bot, or the bare client that is the ceiling of the stack).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import discord
import yarl

from bot.client import EXTENSIONS
from bot.storage import Database
from bot.testing import TEST_TOKEN, Community, FakeClock, build_community, emulator_settings, running_bot, set_up_guild
from discord_emulator import DiscordEmulator, EmulatorLimits, Message, StoryMember

# The vote pipeline alone: /idea, /ideamod and the reaction listener (no reputation, no stages).
CORE_EXTENSIONS = ("cogs.ideas", "cogs.moderation", "cogs.voting")

RESULTS = Path(__file__).resolve().parent / "results"

WORDS = [
    *("amber", "basil", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper"),
    *("kestrel", "lagoon", "meadow", "nectar", "orchid", "pebble", "quartz", "raven", "saffron"),
    *("tundra", "umber", "violet", "willow", "xenon", "yarrow", "zephyr"),
]


def machine() -> dict[str, Any]:
    import os

    return {
        "python": sys.version.split()[0],
        "discord.py": discord.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "note": "shared 2-core machine: absolute times are noisy, compare ratios",
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), "commit": git_commit(), "at": time.time(), **result}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def idea_title(i: int) -> str:
    rng = random.Random(i)
    return f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {rng.choice(WORDS)} plan {i}"


_SCRATCH = itertools.count(1)


@contextlib.asynccontextmanager
async def community_with_cards(
    tmp: Path,
    *,
    cards: int,
    members: int,
    limits: EmulatorLimits | None = None,
    extensions: tuple[str, ...] = EXTENSIONS,
    database: str | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[tuple[Community, list[Message], list[StoryMember]]]:
    """An emulator, the real bot on a fresh database, `cards` idea cards posted through
    /idea submit, and `members` plain members to vote. Limits are off while the cards are
    posted, then `limits` (default: Discord's) apply. `database`: a PostgreSQL URL, on whose
    server a scratch database is made for the run and dropped after (default: SQLite in `tmp`)."""
    emu = DiscordEmulator(limits=EmulatorLimits(enabled=False), validate_spec=False)
    await emu.start()
    scratch = await scratch_database(database) if database else None
    path = scratch or str(tmp / "bench.sqlite3")
    db = await Database.open(path)
    clock = FakeClock()
    settings = emulator_settings(emu, path, **settings_overrides)
    authors = [f"author{i}" for i in range(cards)]
    c = await build_community(emu, db, clock, settings, authors)
    voters = [c.guild.add_member(f"voter{i}", account_age=timedelta(days=300)) for i in range(members)]
    try:
        async with running_bot(settings, db, clock, extensions=extensions) as bot:
            c.bot = bot
            await set_up_guild(c)
            posted = []
            for i in range(cards):
                details = f"Details of plan number {i}, concrete enough."
                posted.append(await c.submit(c.members[authors[i]], title=idea_title(i), details=details))
            await c.settle()
            emu.limits.__dict__.update((limits or EmulatorLimits()).__dict__)
            emu.ratelimiter._buckets.clear()
            emu.stats.rate_limited = 0
            emu.stats.by_route.clear()
            yield c, posted, voters
    finally:
        await db.close()
        await emu.stop()
        if database and scratch:
            await drop_scratch_database(database, scratch)


async def scratch_database(url: str) -> str:
    """A new, empty database on the server of the PostgreSQL `url`; its URL."""
    import asyncpg

    name = f"ideabot_bench_{os.getpid()}_{next(_SCRATCH)}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def drop_scratch_database(url: str, scratch: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {urlsplit(scratch).path.lstrip('/')} WITH (FORCE)")
    finally:
        await conn.close()


class BareClient(discord.Client):
    """The ceiling: the same intents as the bot, a raw reaction listener that only counts."""

    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True
        super().__init__(intents=intents, guild_ready_timeout=0.05)
        self.count = 0

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.count += 1

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        self.count += 1


@contextlib.asynccontextmanager
async def running_bare_client(emu: DiscordEmulator) -> AsyncIterator[BareClient]:
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    discord.http.Route.BASE = emu.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    client = BareClient()
    try:
        async with client:
            task = asyncio.create_task(client.start(TEST_TOKEN))
            await asyncio.wait_for(client.wait_until_ready(), 10)
            try:
                yield client
            finally:
                await client.close()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 5)
    finally:
        discord.http.Route.BASE = saved[0]
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(str(saved[1]))


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """Start a timed stream from the same heap on both sides: the garbage of set-up and of
    earlier rounds collected, and what is alive now (the emulator's guild with its members and
    cards, imported modules) frozen, so that the full collections during the stream do not
    walk the emulator's state, which production's Discord keeps in another process. Measured:
    without this, full collections took 0.3-0.7 s of a 2-3 s stream on either side, at
    moments that differ from round to round."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.002) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(interval)


def reaction_plan(cards: int, members: int, events: int, seed: int = 1) -> list[tuple[int, int, str]]:
    """`events` distinct (card index, member index, emoji): each member holds at most one
    voting reaction per card, so the truth is readable from the reactions."""
    rng = random.Random(seed)
    pairs = rng.sample(range(cards * members), events)
    return [(p % cards, p // cards, "👍" if rng.random() < 0.75 else "👎") for p in pairs]
