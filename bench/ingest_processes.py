"""Vote ingest as deployed: the bot as its own process (`python -m bot.cli run`, every cog, the
default settings) against a bare discord.py client as its own process, each fed the same
stream of reaction events by the emulator in this (third) process.

    uv run python -m bench.ingest_processes [--events 60000] [--cards 50] [--members 2000]
                                            [--rounds 3] [--no-uvloop]

Each round runs both sides one after the other on a fresh emulator (the side that goes first
alternates): the bare client is timed until it has received every event, the bot until every
event is a durable vote (its `ideabot_votes_ingested_total`, scraped from /metrics every
20 ms). The ratio is the bot's events per second over the bare client's in the same round.
Writes bench/results/ingest_processes.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import idea_title, median, reaction_plan, write_result
from bot.testing import MANAGE_GUILD
from discord_emulator import DiscordEmulator, EmulatorLimits, Message, StoryGuild, StoryMember

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Side:
    """One measured process and how to tell it is done."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as stderr:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def read_line(side: Side, prefix: str, timeout: float) -> str:
    assert side.proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = await asyncio.to_thread(side.proc.stdout.readline)
        if not line:
            raise RuntimeError(f"the process ended; see {side.log}")
        if line.startswith(prefix):
            return line.strip()
    raise TimeoutError(prefix)


def environment(emu: DiscordEmulator, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "IDEABOT_DISCORD_API_URL": emu.api_url,
        "IDEABOT_DISCORD_GATEWAY_URL": emu.gateway_url,
        **extra,
    }


def community(emu: DiscordEmulator, cards: int, members: int) -> tuple[StoryGuild, list[StoryMember], list[Any]]:
    guild = emu.create_guild("Ideas Lab")
    for name in ("general", "ideas", "digest", "mod-log"):
        guild.create_text_channel(name)
    mod_role = guild.create_role("Moderators", permissions=MANAGE_GUILD)
    guild.add_member("mod", roles=[mod_role], account_age=timedelta(days=900))
    authors = [guild.add_member(f"author{i}", account_age=timedelta(days=400)) for i in range(cards)]
    voters = [guild.add_member(f"voter{i}", account_age=timedelta(days=300)) for i in range(members)]
    return guild, voters, authors


async def stream(plan: list[tuple[int, int, str]], voters: list[StoryMember], cards: list[Message]) -> float:
    started = time.time()
    for card_index, member_index, emoji in plan:
        await voters[member_index].react(cards[card_index], emoji)
    return started


async def bare_round(plan: list[tuple[int, int, str]], cards: int, members: int, tmp: Path) -> dict[str, float]:
    emu = DiscordEmulator(limits=EmulatorLimits(enabled=False), validate_spec=False)
    await emu.start()
    side: Side | None = None
    try:
        guild, voters, _ = community(emu, cards, members)
        messages = [await voters[0].say(f"card {i}", channel=guild.channel("ideas")) for i in range(cards)]
        env = environment(emu, IDEABOT_BENCH_EXPECT=str(len(plan)))
        side = Side([sys.executable, "-m", "bench.bare_client"], env, tmp / "bare.log")
        await read_line(side, "ready", 30)
        started = await stream(plan, voters, messages)
        dispatched = time.time()
        done = float((await read_line(side, "done", 600)).split()[1])
        return {"dispatch_s": dispatched - started, "received_s": done - started}
    finally:
        if side is not None:
            side.stop()
        await emu.stop()


async def ingested(client: httpx.AsyncClient, url: str) -> float:
    answer = await client.get(url)
    for line in answer.text.splitlines():
        if line.startswith("ideabot_votes_ingested_total "):
            return float(line.split()[1])
    return 0.0


async def bot_round(
    plan: list[tuple[int, int, str]], cards: int, members: int, tmp: Path, uvloop: bool
) -> dict[str, float]:
    emu = DiscordEmulator(limits=EmulatorLimits(enabled=False), validate_spec=False)
    await emu.start()
    port = free_port()
    config = tmp / "ideabot.toml"
    config.write_text('log_level = "WARNING"\n', encoding="utf-8")
    database = tmp / f"bench-{time.monotonic_ns()}.sqlite3"
    env = environment(
        emu,
        IDEABOT_TOKEN="bench",
        IDEABOT_DATABASE=str(database),
        IDEABOT_CONFIG=str(config),
        IDEABOT_METRICS_ADDRESS=f"127.0.0.1:{port}",
        IDEABOT_UVLOOP="true" if uvloop else "false",
    )
    side: Side | None = None
    try:
        guild, voters, authors = community(emu, cards, members)
        side = Side([sys.executable, "-m", "bot.cli", "run"], env, tmp / "bot.log")
        await asyncio.wait_for(emu.gateway.ready_event.wait(), 60)
        await asyncio.sleep(0.5)  # commands synced and the first recount done
        mod = guild.member("mod")
        general = guild.channel("general")
        reply = await mod.run(
            "/ideamod setup",
            ideas_channel=guild.channel("ideas"),
            digest_channel=guild.channel("digest"),
            channel=general,
        )
        assert "Set up" in reply.text, reply.text
        await mod.run("/ideamod limits", cooldown_seconds=0, daily_quota=0, channel=general)
        for i in range(cards):
            reply = await authors[i].run(
                "/idea submit",
                title=idea_title(i),
                details=f"Details of plan number {i}, concrete enough.",
                channel=general,
            )
            anyway = [b for b in (reply.message.buttons() if reply.message else []) if "anyway" in str(b.get("label"))]
            if anyway:
                await authors[i].click(reply, custom_id=anyway[0]["custom_id"])
        posted = [m for m in emu.messages_in(guild.channel("ideas")) if m.author_id == emu.bot_user.id]
        assert len(posted) == cards, len(posted)
        url = f"http://127.0.0.1:{port}/metrics"
        async with httpx.AsyncClient() as client:
            baseline = await ingested(client, url)
            started = await stream(plan, voters, posted)
            dispatched = time.time()
            while await ingested(client, url) < baseline + len(plan):
                await asyncio.sleep(0.02)
            durable = time.time()
        return {"dispatch_s": dispatched - started, "durable_s": durable - started}
    finally:
        if side is not None:
            side.stop()
        await emu.stop()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    plan = reaction_plan(args.cards, args.members, args.events)
    bots: list[dict[str, float]] = []
    bares: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            sides = [
                ("bare", lambda: bare_round(plan, args.cards, args.members, Path(tmp))),
                ("bot", lambda: bot_round(plan, args.cards, args.members, Path(tmp), not args.no_uvloop)),
            ]
            for name, run in sides if i % 2 == 0 else reversed(sides):
                (bares if name == "bare" else bots).append(await run())
            ratio = bares[-1]["received_s"] / bots[-1]["durable_s"]
            print(f"round {i + 1}: bare {bares[-1]}  bot {bots[-1]}  ratio {ratio:.2f}", flush=True)
    n = len(plan)
    ratios = [b["received_s"] / o["durable_s"] for b, o in zip(bares, bots, strict=True)]
    return {
        "events": n,
        "cards": args.cards,
        "members": args.members,
        "rounds": args.rounds,
        "uvloop": not args.no_uvloop,
        "ceiling_events_per_s": median([n / b["received_s"] for b in bares]),
        "bot_durable_events_per_s": median([n / b["durable_s"] for b in bots]),
        "ratio_durable_to_ceiling": median(ratios),
        "goal_ratio": 0.9,
        "pass": median(ratios) >= 0.9,
        "per_round": {"bare": bares, "bot": bots, "ratios": ratios},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--cards", type=int, default=50)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-uvloop", action="store_true", help="run the bot on asyncio's own loop")
    parser.add_argument("--name", default="ingest_processes", help="result file name (bench/results/<name>.json)")
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        outcome = asyncio.run(main(arguments))
        path = write_result(arguments.name, outcome)
        print(
            f"ceiling {outcome['ceiling_events_per_s']:.0f} ev/s, bot durable {outcome['bot_durable_events_per_s']:.0f}"
            f" ev/s, ratio {outcome['ratio_durable_to_ceiling']:.2f} (goal >= 0.9) -> {path}"
        )
