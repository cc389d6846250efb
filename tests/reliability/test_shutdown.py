"""`ideabot run` as a real process stops cleanly on SIGTERM (systemctl stop, docker stop) and
SIGINT (Ctrl-C): exit status 0 within 10 s, the last votes credited, the reward role that was
still waiting handed out, the database closed intact."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from datetime import timedelta

import pytest

from bot.testing import MANAGE_GUILD
from discord_emulator import DiscordEmulator
from tests.reliability.test_kill_restart import BotProcess, connected_and_ready


def scalar(database: object, sql: str) -> int:
    with sqlite3.connect(str(database), timeout=5) as conn:
        return int(conn.execute(sql).fetchone()[0] or 0)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_signal_flushes_pending_work_and_exits_0(
    emulator: DiscordEmulator, bot_process: BotProcess, stop_signal: signal.Signals
) -> None:
    emu = emulator
    guild = emu.create_guild("Ideas Lab")
    general = guild.create_text_channel("general")
    ideas = guild.create_text_channel("ideas")
    digest = guild.create_text_channel("digest")
    contributor = guild.create_role("Contributor")
    mod_role = guild.create_role("Moderators", permissions=MANAGE_GUILD)
    mod = guild.add_member("mod", roles=[mod_role], account_age=timedelta(days=900))
    alice = guild.add_member("alice", account_age=timedelta(days=400))
    voters = [guild.add_member(f"v{i}", account_age=timedelta(days=300)) for i in range(6)]

    bot_process.start()
    await connected_and_ready(emu, 0)
    await emu.wait_for(lambda: bool(emu.world.global_commands), timeout=20)
    reply = await mod.run("/ideamod setup", ideas_channel=ideas, digest_channel=digest, channel=general, timeout=10)
    assert "Set up" in reply.text, reply.text
    reply = await mod.run("/ideamod role add", role=contributor, points=5, channel=general, timeout=10)
    assert "reward role" in reply.text, reply.text
    await alice.run("/idea submit", title="Dark mode please", details="A dark theme at night", channel=general)
    card = emu.messages_in(ideas)[-1]
    for voter in voters:
        await voter.react(card, "👍")

    # Stop as soon as the votes are durable: their credit and alice's role (the role waits
    # ~2 s to coalesce a burst) are still pending.
    database = bot_process.database
    await emu.wait_for(lambda: scalar(database, "SELECT upvotes FROM ideas") == len(voters), timeout=10, interval=0.02)
    assert not alice.has_role(contributor)
    assert bot_process.proc is not None
    started = time.monotonic()
    bot_process.proc.send_signal(stop_signal)
    status = await asyncio.to_thread(bot_process.proc.wait, 10)
    took = time.monotonic() - started

    assert status == 0, bot_process.log.read_text(errors="replace")[-3000:]
    assert took < 10
    assert "stopped cleanly" in bot_process.log.read_text(errors="replace")
    credited = scalar(database, "SELECT COALESCE(SUM(delta), 0) FROM reputation_events WHERE source = 'upvote'")
    assert credited == len(voters)
    assert scalar(database, "SELECT COUNT(*) FROM vote_effects") == 0
    assert alice.has_role(contributor)
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"{stop_signal.name}: exit 0 after {took:.2f} s")
