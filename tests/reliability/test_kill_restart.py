"""The bot process is killed with SIGKILL while votes stream in, then restarted on the same
database: the database passes its integrity check and, after the recount, the tallies equal the
reactions on the cards."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.testing import MANAGE_GUILD
from discord_emulator import DiscordEmulator, Message, StoryMember

ROOT = Path(__file__).resolve().parents[2]
UP, DOWN = "👍", "👎"
CONFIG = """
card_edit_interval_seconds = 0.3
channel_edits_per_window = 5
channel_edit_window_seconds = 0.5
vote_batch_seconds = 0.01
log_level = "WARNING"
"""


class BotProcess:
    def __init__(self, emu: DiscordEmulator, tmp: Path) -> None:
        config = tmp / "ideabot.toml"
        config.write_text(CONFIG, encoding="utf-8")
        self.database = tmp / "ideabot.sqlite3"
        self.env = {
            **os.environ,
            "IDEABOT_TOKEN": "anything",
            "IDEABOT_DATABASE": str(self.database),
            "IDEABOT_DISCORD_API_URL": emu.api_url,
            "IDEABOT_DISCORD_GATEWAY_URL": emu.gateway_url,
            "IDEABOT_CONFIG": str(config),
        }
        self.log = tmp / "bot.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=self.env, stdout=log, stderr=log
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def bot_process(emulator: DiscordEmulator, tmp_path: Path) -> Iterator[BotProcess]:
    process = BotProcess(emulator, tmp_path)
    try:
        yield process
    finally:
        process.stop()


def tallies(database: Path) -> dict[int, tuple[int, int]]:
    """message id -> (ups, downs) from the ideas table, and checked against the votes rows."""
    with sqlite3.connect(database, timeout=5) as conn:
        ideas = conn.execute("SELECT id, message_id, upvotes, downvotes FROM ideas").fetchall()
        counted = dict(
            ((row[0], row[1]), row[2])
            for row in conn.execute("SELECT idea_id, value, COUNT(*) FROM votes GROUP BY idea_id, value")
        )
    result = {}
    for idea_id, message_id, ups, downs in ideas:
        assert (counted.get((idea_id, 1), 0), counted.get((idea_id, -1), 0)) == (ups, downs), "tallies drifted"
        result[message_id] = (ups, downs)
    return result


def truth(emu: DiscordEmulator, card: Message, author_id: int) -> tuple[int, int]:
    ignored = {emu.bot_user.id, author_id}
    ups = set(card.reactions.get(UP, [])) - ignored
    downs = set(card.reactions.get(DOWN, [])) - ignored
    return len(ups), len(downs)


async def connected_and_ready(emu: DiscordEmulator, identifies: int) -> None:
    await emu.wait_for(lambda: emu.gateway.stats.identifies > identifies and emu.gateway.connected, timeout=20)


async def test_sigkill_mid_stream_then_restart_recounts(emulator: DiscordEmulator, bot_process: BotProcess) -> None:
    emu = emulator
    guild = emu.create_guild("Ideas Lab")
    general = guild.create_text_channel("general")
    ideas = guild.create_text_channel("ideas")
    digest = guild.create_text_channel("digest")
    mod_role = guild.create_role("Moderators", permissions=MANAGE_GUILD)
    mod = guild.add_member("mod", roles=[mod_role], account_age=timedelta(days=900))
    authors = [guild.add_member(name, account_age=timedelta(days=400)) for name in ("alice", "bob")]
    voters = [guild.add_member(f"v{i}", account_age=timedelta(days=300)) for i in range(60)]

    bot_process.start()
    await connected_and_ready(emu, 0)
    await emu.wait_for(lambda: bool(emu.world.global_commands), timeout=20)  # commands synced: setup_hook ran
    reply = await mod.run(
        "/ideamod setup", ideas_channel=ideas, digest_channel=digest, log_channel=digest, channel=general, timeout=10
    )
    assert "Set up" in reply.text, reply.text
    cards: list[Message] = []
    for author, title in zip(authors, ("Dark mode please", "Export to CSV files"), strict=True):
        await author.run("/idea submit", title=title, details="Concrete details for the kill test", channel=general)
        cards.append(emu.messages_in(ideas)[-1])

    rng = random.Random(3)
    held: dict[tuple[int, int], str] = {}

    async def vote(n: int) -> None:
        for _ in range(n):
            voter: StoryMember = rng.choice(voters)
            card = rng.choice(cards)
            key = (voter.id, card.id)
            current = held.pop(key, None)
            if current is not None:
                await voter.unreact(card, current)
                if rng.random() < 0.5:
                    continue
            emoji = UP if rng.random() < 0.7 else DOWN
            await voter.react(card, emoji)
            held[key] = emoji
            await asyncio.sleep(0.002)

    await vote(150)
    bot_process.kill()  # mid-stream: some events are in flight, some batches half-written
    await vote(80)  # while the bot is down: nobody hears these
    identifies = emu.gateway.stats.identifies
    bot_process.start()
    await connected_and_ready(emu, identifies)
    await vote(40)  # and some after the restart

    want = {card.id: truth(emu, card, author.id) for card, author in zip(cards, authors, strict=True)}

    def settled() -> bool:
        try:
            return all(tallies(bot_process.database).get(mid) == tally for mid, tally in want.items())
        except sqlite3.OperationalError:
            return False

    await emu.wait_for(settled, timeout=20, interval=0.1)
    for card in cards:
        ups, downs = want[card.id]
        await emu.wait_for(
            lambda card=card, ups=ups, downs=downs: any(
                f["value"] == f"👍 {ups}   👎 {downs}" for f in card.embeds[0]["fields"] if f["name"] == "Votes"
            ),
            timeout=10,
        )
    with sqlite3.connect(bot_process.database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
