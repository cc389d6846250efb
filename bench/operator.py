"""A simulated operator: many guilds, shard ranges in bot processes, one database.

    uv run python -m bench.operator [--guilds 1000] [--shards 4] [--processes 2]
        [--database postgresql://...] [--name operator]

The local emulator (in this process) serves `--guilds` guilds of 10-50 members each to
`--processes` real `ideabot run` processes, which split `--shards` shards evenly
(IDEABOT_SHARD_COUNT, IDEABOT_SHARD_IDS). The mixed workload, per guild: a moderator's
/ideamod setup, 1-3 submissions, votes from most members, a status change (`planned`), a
/digest post (last week, the default), and for one guild in ten a second /digest post (which must
not post again). Reported: the RSS of each bot process (and per 1,000 guilds), the p50/p99
interaction acknowledgement (INTERACTION_CREATE dispatched to the bot's first callback), and
whether every guild's digest was posted exactly once (the digest messages in its channel).

Several processes need PostgreSQL (`--database postgresql://...`); with the default (a fresh
SQLite file) only `--processes 1` runs, as the bot itself refuses more. Writes
bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import WORDS, git_commit, idea_title, machine, percentile, write_result
from bot.storage.single_process import is_postgres
from bot.testing import MANAGE_GUILD
from discord_emulator import DiscordEmulator, Message, StoryChannel, StoryMember

ROOT = Path(__file__).resolve().parents[1]
UP, DOWN = "👍", "👎"


@dataclass
class Guild:
    general: StoryChannel
    ideas: StoryChannel
    digest: StoryChannel
    mod: StoryMember
    members: list[StoryMember]
    cards: list[Message] = field(default_factory=list)


def shard_ranges(shards: int, processes: int) -> list[str]:
    per = -(-shards // processes)
    ranges = [(p * per, min(shards, (p + 1) * per) - 1) for p in range(processes)]
    return [f"{low}-{high}" for low, high in ranges if low <= high]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_bot(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=env, stderr=stderr)


def build(emu: DiscordEmulator, guilds: int, rng: random.Random) -> list[Guild]:
    built = []
    for n in range(guilds):
        guild = emu.create_guild(f"Community {n}")
        general = guild.create_text_channel("general")
        ideas = guild.create_text_channel("ideas")
        digest = guild.create_text_channel("digest")
        role = guild.create_role("Moderators", permissions=MANAGE_GUILD)
        mod = guild.add_member("mod", roles=[role], account_age=timedelta(days=900))
        members = [guild.add_member(f"m{i}", account_age=timedelta(days=400)) for i in range(rng.randint(10, 50))]
        built.append(Guild(general, ideas, digest, mod, members))
    return built


class Workload:
    def __init__(self, emu: DiscordEmulator, rng: random.Random) -> None:
        self.emu = emu
        self.rng = rng
        self.acks: list[float] = []
        self.failures: list[str] = []
        self.votes = 0

    async def command(self, member: StoryMember, name: str, channel: StoryChannel, **options: Any) -> str:
        reply = await member.run(name, channel=channel, timeout=30, **options)
        if reply.ack_seconds is not None:
            self.acks.append(reply.ack_seconds)
        return reply.text

    async def step(self, name: str, work: Awaitable[Any]) -> Any:
        """One member action; a failure (an answer that never came) is counted and the guild's
        workload goes on, as members would."""
        try:
            return await work
        except Exception as exc:
            self.failures.append(f"{name}: {type(exc).__name__}: {exc}"[:160])
            return None

    async def guild(self, g: Guild) -> None:
        text = await self.step(
            "setup", self.command(g.mod, "/ideamod setup", g.general, ideas_channel=g.ideas, digest_channel=g.digest)
        )
        if text is None or "Set up" not in text:
            self.failures.append(f"setup: {(text or '')[:80]}")
            return
        for author in self.rng.sample(g.members, self.rng.randint(1, 3)):
            await self.step("submit", self.submit(g, author))
        for card in g.cards:
            for voter in self.rng.sample(g.members, int(len(g.members) * 0.6)):
                await voter.react(card, UP if self.rng.random() < 0.75 else DOWN)
                self.votes += 1
        if g.cards:
            await self.step("status", self.command(g.mod, "/ideamod status", g.general, id=1, status="planned"))
        # A moderator whose /digest post got no answer runs it again, as the bot's reply advises.
        for attempt in range(2):
            await self.step("digest", self.command(g.mod, "/digest post", g.general))
            if digest_posts(self.emu, g) > 0:
                break
            if attempt == 0:
                await asyncio.sleep(5)
        if self.rng.random() < 0.1:
            await self.step("digest again", self.command(g.mod, "/digest post", g.general))

    async def submit(self, g: Guild, author: StoryMember) -> None:
        before = len(self.emu.messages_in(g.ideas))
        title = idea_title(self.rng.randrange(10**6))
        reply = await author.run(
            "/idea submit", channel=g.general, timeout=30, title=title, details=" ".join(self.rng.sample(WORDS, 8))
        )
        if reply.ack_seconds is not None:
            self.acks.append(reply.ack_seconds)
        text = reply.text
        buttons = reply.message.buttons() if reply.message else []
        anyway = [b for b in buttons if "anyway" in str(b.get("label", "")).lower()]
        if len(self.emu.messages_in(g.ideas)) == before and anyway:  # similar words: post anyway
            text = (await author.click(reply, custom_id=anyway[0]["custom_id"])).text
        posted = self.emu.messages_in(g.ideas)
        if len(posted) > before:
            g.cards.append(posted[-1])
        else:
            self.failures.append(f"submit: {text[:80]}")


def digest_posts(emu: DiscordEmulator, g: Guild) -> int:
    heads = [
        m
        for m in emu.messages_in(g.digest)
        if m.author_id == emu.bot_user.id
        and m.embeds
        and str(m.embeds[0].get("title", "")).startswith("Weekly digest")
        and "(continued)" not in str(m.embeds[0].get("title", ""))
    ]
    return len(heads)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="ideabot-operator-"))
    database = args.database or str(tmp / "ideabot.sqlite3")
    if args.processes > 1 and not is_postgres(database):
        raise SystemExit("--processes > 1 needs --database postgresql://... (SQLite serves one process)")
    emu = DiscordEmulator()
    emu.gateway.limits.max_concurrency = args.shards  # Discord's large-bot buckets: every shard may IDENTIFY at once
    await emu.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        started = time.monotonic()
        guilds = build(emu, args.guilds, rng)
        print(f"built {len(guilds)} guilds, {sum(len(g.members) for g in guilds)} members", flush=True)
        ranges = shard_ranges(args.shards, args.processes)
        for index, shard_ids in enumerate(ranges):
            env = {
                **os.environ,
                "IDEABOT_TOKEN": "anything",
                "IDEABOT_DATABASE": database,
                "IDEABOT_DISCORD_API_URL": emu.api_url,
                "IDEABOT_DISCORD_GATEWAY_URL": emu.gateway_url,
                "IDEABOT_SHARD_COUNT": str(args.shards),
                "IDEABOT_SHARD_IDS": shard_ids,
                "IDEABOT_LOG_LEVEL": "WARNING",
            }
            procs.append(start_bot(env, tmp / f"bot{index}.log"))
            # The first process creates the schema: the others start once it is up.
            if index == 0:
                await emu.wait_for(lambda: bool(emu.world.global_commands), timeout=60)
        await emu.wait_for(
            lambda: all(emu.gateway.shard_connected(s, args.shards) for s in range(args.shards)), timeout=120
        )
        await asyncio.sleep(2)  # GUILD_CREATEs and the start-up recounts
        print(f"{len(procs)} processes serve shards {', '.join(ranges)} of {args.shards}", flush=True)
        idle_rss = [rss_kib(p.pid) for p in procs]

        load = Workload(emu, rng)
        queue: asyncio.Queue[Guild] = asyncio.Queue()
        for g in guilds:
            queue.put_nowait(g)
        done = 0

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                g = queue.get_nowait()
                try:
                    await load.guild(g)
                except Exception as exc:  # the run goes on; the count is reported
                    load.failures.append(f"{type(exc).__name__}: {exc}"[:120])
                done += 1
                if done % max(1, args.guilds // 20) == 0:
                    print(f"  {done}/{args.guilds} guilds, {load.votes} votes, {len(load.acks)} commands", flush=True)

        workload_start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        workload_seconds = time.monotonic() - workload_start
        await asyncio.sleep(3)  # last card edits and digests
        rss = [rss_kib(p.pid) for p in procs]
        posts = [digest_posts(emu, g) for g in guilds]
        exactly_once = sum(1 for n in posts if n == 1)
        result = {
            "guilds": args.guilds,
            "members": sum(len(g.members) for g in guilds),
            "shards": args.shards,
            "processes": len(procs),
            "shard_ranges": ranges,
            "database": "postgresql" if is_postgres(database) else "sqlite",
            "commands": len(load.acks),
            "votes": load.votes,
            "workload_seconds": round(workload_seconds, 1),
            "ack_p50_ms": round(percentile(load.acks, 50) * 1000, 1),
            "ack_p99_ms": round(percentile(load.acks, 99) * 1000, 1),
            "rss_idle_mib": [round(kib / 1024, 1) for kib in idle_rss],
            "rss_mib": [round(kib / 1024, 1) for kib in rss],
            "rss_mib_per_1000_guilds": round(sum(rss) / 1024 / args.guilds * 1000, 1),
            "digests_exactly_once": exactly_once,
            "digests_missing": sum(1 for n in posts if n == 0),
            "digests_doubled": sum(1 for n in posts if n > 1),
            "failures": load.failures[:20],
            "failure_count": len(load.failures),
            "total_seconds": round(time.monotonic() - started, 1),
            "machine": machine(),
            "commit": git_commit(),
        }
        print(
            f"ack p50 {result['ack_p50_ms']} ms, p99 {result['ack_p99_ms']} ms; RSS {result['rss_mib']} MiB"
            f" ({result['rss_mib_per_1000_guilds']} MiB per 1,000 guilds); digests exactly once:"
            f" {exactly_once}/{args.guilds}; failures {len(load.failures)}",
            flush=True,
        )
        return result
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        await emu.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guilds", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--database", default=None, help="a postgresql:// URL; default: a fresh SQLite file")
    parser.add_argument("--concurrency", type=int, default=16, help="guilds worked on at once")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--name", default="operator", help="result file name (bench/results/<name>.json)")
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    print(f"wrote {write_result(arguments.name, outcome)}")
