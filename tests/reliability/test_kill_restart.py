"""The bot process is killed with SIGKILL while votes stream in, then restarted on the same
database: the database passes its integrity check and, after the recount, the tallies equal the
reactions on the cards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.ideas.rules import Status
from bot.testing import MANAGE_GUILD, BotSubprocess
from discord_emulator import DiscordEmulator, InteractionTimeout, Message, StoryMember

ROOT = Path(__file__).resolve().parents[2]
UP, DOWN = "👍", "👎"
CONFIG = """
card_edit_interval_seconds = 0.3
channel_edits_per_window = 5
channel_edit_window_seconds = 0.5
vote_batch_seconds = 0.01
log_level = "WARNING"
"""


class BotProcess(BotSubprocess):
    def __init__(self, emu: DiscordEmulator, tmp: Path) -> None:
        config = tmp / "ideabot.toml"
        config.write_text(CONFIG, encoding="utf-8")
        self.database = tmp / "ideabot.sqlite3"
        env = {
            **os.environ,
            "IDEABOT_TOKEN": "anything",
            "IDEABOT_DATABASE": str(self.database),
            "IDEABOT_DISCORD_API_URL": emu.api_url,
            "IDEABOT_DISCORD_GATEWAY_URL": emu.gateway_url,
            "IDEABOT_CONFIG": str(config),
        }
        super().__init__(env, tmp / "bot.log", stop_seconds=5)


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


# --- twenty kills during a mixed workload ---------------------------------------------------------

KILL_SEED = int(os.environ.get("IDEABOT_KILL_SEED", "20261201"))
KILLS = 20
ROLE_POINTS = 6


def rows(database: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database, timeout=5) as conn:
        return [tuple(row) for row in conn.execute(sql, params)]


def count(database: Path, sql: str, *params: object) -> int:
    return int(rows(database, sql, *params)[0][0] or 0)


async def test_twenty_kills_during_a_mixed_workload_lose_nothing_and_double_nothing(
    emulator: DiscordEmulator, bot_process: BotProcess
) -> None:
    """SIGKILL at 20 random moments while members vote and moderators change statuses, merge,
    post the digest and reward roles move; after the last restart every effect is there once."""
    print(f"kill test seed {KILL_SEED} (set IDEABOT_KILL_SEED to replay)")
    rng = random.Random(KILL_SEED)
    emu = emulator
    database = bot_process.database
    guild = emu.create_guild("Ideas Lab")
    general = guild.create_text_channel("general")
    ideas = guild.create_text_channel("ideas")
    digest = guild.create_text_channel("digest")
    contributor = guild.create_role("Contributor")
    mod_role = guild.create_role("Moderators", permissions=MANAGE_GUILD)
    mod = guild.add_member("mod", roles=[mod_role], account_age=timedelta(days=900))
    authors = [guild.add_member(f"author{i}", account_age=timedelta(days=400)) for i in range(5)]
    # Nine voters: below the first support stage (10 votes), so no automatic status change.
    voters = [guild.add_member(f"v{i}", account_age=timedelta(days=300)) for i in range(9)]

    bot_process.start()
    await connected_and_ready(emu, 0)
    await emu.wait_for(lambda: bool(emu.world.global_commands), timeout=20)
    reply = await mod.run("/ideamod setup", ideas_channel=ideas, digest_channel=digest, channel=general, timeout=10)
    assert "Set up" in reply.text, reply.text
    reply = await mod.run("/ideamod role add", role=contributor, points=ROLE_POINTS, channel=general, timeout=10)
    assert "reward role" in reply.text, reply.text
    cards: list[Message] = []
    for n, author in enumerate(authors, start=1):
        await author.run("/idea submit", title=f"Idea number {n}", details=f"Details of idea {n}", channel=general)
        cards.append(emu.messages_in(ideas)[-1])
    voted_cards = cards[:4]  # #5 is merged into #1 without votes of its own

    up = asyncio.Event()
    up.set()
    stop_voting = asyncio.Event()
    held: dict[tuple[int, int], str] = {}
    reactions = 0
    commands_cut = 0

    async def vote() -> None:
        nonlocal reactions
        while not stop_voting.is_set():
            voter = rng.choice(voters)
            card = rng.choice(voted_cards)
            key = (voter.id, card.id)
            current = held.pop(key, None)
            if current is not None:
                await voter.unreact(card, current)
                reactions += 1
            if current is None or rng.random() < 0.5:
                emoji = UP if rng.random() < 0.7 else DOWN
                await voter.react(card, emoji)
                held[key] = emoji
                reactions += 1
            await asyncio.sleep(rng.uniform(0.005, 0.03))

    def status_of(number: int) -> str:
        return str(rows(database, "SELECT status FROM ideas WHERE number = ?", number)[0][0])

    async def command(done: Any, name: str, **options: Any) -> None:
        """Until its effect is in the database: the bot may die under any attempt."""
        nonlocal commands_cut
        # Longer than the kill phase (about 65 s): a command retried under every kill still gets
        # through once the kills stop, since what a kill cut short is taken over at start-up.
        give_up = asyncio.get_running_loop().time() + 150
        while not done():
            assert asyncio.get_running_loop().time() < give_up, f"{name} {options} never took effect"
            await up.wait()
            command_sent.set()
            try:
                await mod.run(name, channel=general, timeout=4, **options)
            except (InteractionTimeout, ConnectionError):
                commands_cut += 1
            await asyncio.sleep(rng.uniform(0.1, 0.6))

    def posted() -> bool:
        return count(database, "SELECT COUNT(*) FROM digests WHERE status = 'posted'") > 0

    async def moderate() -> None:
        plan: list[tuple[Any, str, dict[str, Any]]] = [
            (lambda: status_of(2) == "under_review", "/ideamod status", {"id": 2, "status": "under_review"}),
            (lambda: status_of(3) == "planned", "/ideamod status", {"id": 3, "status": "planned", "reason": "Q1"}),
            (lambda: status_of(5) == "duplicate", "/ideamod merge", {"source": 5, "target": 1}),
            (posted, "/digest post", {}),
            (lambda: status_of(2) == "planned", "/ideamod status", {"id": 2, "status": "planned", "reason": "Q2"}),
            (lambda: status_of(4) == "under_review", "/ideamod status", {"id": 4, "status": "under_review"}),
            (lambda: status_of(2) == "in_progress", "/ideamod status", {"id": 2, "status": "in_progress"}),
        ]
        for done, name, options in plan:
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            await command(done, name, **options)

    command_sent = asyncio.Event()

    async def kill_and_restart() -> None:
        for n in range(KILLS):
            if n % 2:  # every other kill lands just after a moderator's command, inside its effects
                command_sent.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(command_sent.wait(), timeout=2)
                await asyncio.sleep(rng.uniform(0.0, 0.15))
            else:
                await asyncio.sleep(rng.uniform(0.2, 1.0))
            up.clear()
            bot_process.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.3))  # members keep reacting while it is down
            identifies = emu.gateway.stats.identifies
            bot_process.start()
            await connected_and_ready(emu, identifies)
            up.set()

    started = asyncio.get_running_loop().time()
    voting = asyncio.create_task(vote())
    await asyncio.gather(kill_and_restart(), moderate())
    stop_voting.set()
    await voting
    workload_seconds = asyncio.get_running_loop().time() - started

    # --- the truth, and the bot's state once it has caught up --------------------------------
    def truth_of(card: Message) -> tuple[int, int]:
        return truth(emu, card, authors[cards.index(card)].id)

    number_of = {card.id: n for n, card in enumerate(cards, start=1)}
    ever_planned = {
        row[0] for row in rows(database, "SELECT DISTINCT idea_id FROM status_history WHERE new_status = 'planned'")
    }
    idea_ids = {number: idea_id for idea_id, number in rows(database, "SELECT id, number FROM ideas")}

    def expected_points() -> dict[int, int]:
        points = {author.id: 2 for author in authors}  # one idea each: +2
        for card in voted_cards:
            n = number_of[card.id]
            points[authors[n - 1].id] += truth_of(card)[0] + (10 if idea_ids[n] in ever_planned else 0)
        return points

    def ledger() -> dict[int, int]:
        return dict(rows(database, "SELECT user_id, SUM(delta) FROM reputation_events GROUP BY user_id"))  # type: ignore[arg-type]

    def caught_up() -> bool:
        try:
            return (
                all(tallies(database).get(card.id) == truth_of(card) for card in voted_cards)
                and count(database, "SELECT COUNT(*) FROM vote_effects") == 0
                and count(
                    database,
                    "SELECT COUNT(*) FROM status_history WHERE notified_at IS NULL AND new_status != 'withdrawn'",
                )
                == 0
                and count(database, "SELECT COUNT(*) FROM digests WHERE status != 'posted'") == 0
                and ledger() == expected_points()
                and all(a.has_role(contributor) == (ledger()[a.id] >= ROLE_POINTS) for a in authors)
            )
        except sqlite3.OperationalError:
            return False

    with contextlib.suppress(AssertionError):  # the assertions below say what is missing
        await emu.wait_for(caught_up, timeout=30, interval=0.2)
    settle_seconds = asyncio.get_running_loop().time() - started - workload_seconds

    # Votes against reactions, card by card.
    for card in voted_cards:
        assert tallies(database)[card.id] == truth_of(card)
    votes = count(database, "SELECT COUNT(*) FROM votes")
    assert votes == sum(sum(truth_of(card)) for card in voted_cards)
    # The ledger against the rules applied to the final votes and statuses.
    assert ledger() == expected_points()
    assert count(database, "SELECT COUNT(*) FROM reputation_events WHERE source = 'submission'") == len(authors)
    assert count(database, "SELECT COUNT(*) FROM reputation_events WHERE source = 'planned'") == len(ever_planned)
    # Reward roles against totals.
    for author in authors:
        assert author.has_role(contributor) == (ledger()[author.id] >= ROLE_POINTS), author
    # One digest message per week.
    weeks = [week for (week,) in rows(database, "SELECT iso_week FROM digests")]
    assert weeks
    for week in weeks:
        heads = [
            m
            for m in emu.messages_in(digest)
            if m.author_id == emu.bot_user.id and m.embeds and m.embeds[0].get("title") == f"Weekly digest · {week}"
        ]
        assert len(heads) == 1, week
    # Each status change told once to each of its recipients, and once in the idea's thread.
    changes = rows(
        database,
        "SELECT h.id, i.number, h.old_status, h.new_status FROM status_history h JOIN ideas i ON i.id = h.idea_id"
        " WHERE h.new_status != 'withdrawn' ORDER BY h.id",
    )
    assert len(changes) == 6  # the plan's six status changes, merge included
    dms = 0
    for history_id, number, old, new in changes:
        line = f"Status: **{Status(old).label}** → **{Status(new).label}**"
        recipients = rows(database, "SELECT user_id, state FROM notice_recipients WHERE history_id = ?", history_id)
        assert recipients and all(state == "sent" for _, state in recipients)
        for user_id, _ in recipients:
            got = [
                m
                for m in emu.dms_to(user_id)
                if any(e.get("description", "").startswith(line) for e in m.embeds)
                and f"#{number} " in m.embeds[0].get("title", "")
            ]
            assert len(got) == 1, (number, old, new, user_id)
            dms += 1
        thread = emu.thread_of(cards[number - 1])
        assert thread is not None
        posts = [m for m in thread.messages if any(e.get("description", "").startswith(line) for e in m.embeds)]
        assert len(posts) == 1, (number, old, new)
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    print(
        f"seed {KILL_SEED}: {KILLS} kills in {workload_seconds:.1f} s, caught up {settle_seconds:.1f} s later;"
        f" {reactions} reactions -> {votes} votes;"
        f" ledger {sum(ledger().values())} points in {count(database, 'SELECT COUNT(*) FROM reputation_events')} rows;"
        f" {len(changes)} status changes -> {dms} DMs, each once ({emu.world.nonce_repeats} repeats dropped by nonce);"
        f" {commands_cut} commands cut by a kill; digests {weeks};"
        f" roles {sum(a.has_role(contributor) for a in authors)}/{len(authors)}"
    )
