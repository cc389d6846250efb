"""Running the real bot against the emulator: shared by the e2e tests, the demo and the benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import yarl

from bot.app import build_bot
from bot.client import EXTENSIONS, IdeaBot, point_discord_at
from bot.i18n import _, use
from bot.settings import Settings
from bot.storage import Database
from discord_emulator import DiscordEmulator, EmulatorLimits, Limit, Message, StoryChannel, StoryMember, StoryRole

TEST_TOKEN = "emulator-bot-token"  # noqa: S105 - the emulator accepts any token
MANAGE_GUILD = 1 << 5


@dataclass
class FakeClock:
    """The bot's clock in tests and the demo: starts at the real time and moves when told."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def fast_limits(window: float = 0.5) -> EmulatorLimits:
    """Discord's limits with shorter windows, so tests of rate limits run in a fraction of a second."""
    return EmulatorLimits(
        message_create=Limit(5, window),
        message_edit=Limit(5, window),
        reaction=Limit(1, window / 20),
        role_change=Limit(10, window * 2),
    )


def emulator_settings(emu: DiscordEmulator, database: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database": database,
        "discord_api_url": emu.api_url,
        "discord_gateway_url": emu.gateway_url,
        "card_edit_interval_seconds": 0.5,
        "channel_edits_per_window": 5,
        "channel_edit_window_seconds": 0.5,
        "vote_batch_seconds": 0.01,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings,
    db: Database,
    clock: FakeClock | None = None,
    extensions: tuple[str, ...] = EXTENSIONS,
    token: str = TEST_TOKEN,
) -> AsyncIterator[IdeaBot]:
    """Start the real bot against `settings`' Discord URLs; stop it on exit."""
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    point_discord_at(settings)
    bot = build_bot(settings, db, clock=clock or FakeClock(), extensions=extensions, guild_ready_timeout=0.05)
    try:
        async with bot:
            task = asyncio.create_task(bot.start(token), name="bot")
            ready = asyncio.create_task(bot.wait_until_ready())
            done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            if ready not in done:
                ready.cancel()
                if task in done:
                    task.result()  # surface the start-up error
                raise TimeoutError("the bot did not become ready within 10 s")
            # on_ready (and its recount) runs as a task; wait for it so tests start from a settled
            # bot: a sharded bot recounts once per shard.
            sessions = len(bot.shard_plan.ids) if bot.shard_plan.sharded else 1
            await _wait_for(lambda: bot.recounts >= sessions, 10)
            try:
                yield bot
            finally:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, timeout=5)
    finally:
        discord.http.Route.BASE = saved[0]
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(str(saved[1]))


def received_sequences(bot: IdeaBot) -> dict[int, int]:
    """shard id -> the last sequence number the bot's session of that shard received."""
    if isinstance(bot, discord.AutoShardedClient):
        # ShardInfo keeps its Shard (and so its websocket) in `_parent`; discord.py has no public
        # accessor for a shard's sequence number.
        sockets = {shard_id: info._parent.ws for shard_id, info in bot.shards.items()}
    else:
        sockets = {0: bot.ws} if bot.ws is not None else {}
    return {shard_id: ws.sequence or 0 for shard_id, ws in sockets.items() if ws is not None}


async def events_delivered(bot: IdeaBot, emu: DiscordEmulator, timeout: float = 10) -> None:
    """Until the bot has received every event the emulator dispatched to any of its shards'
    connected sessions, and its listeners ran."""
    plan = bot.shard_plan
    targets = {
        shard_id: session.seq
        for (shard_id, count), session in list(emu.gateway.shards.items())
        if count == plan.count and shard_id in plan.ids and emu.gateway.shard_connected(shard_id, count)
    }

    def caught_up() -> bool:
        received = received_sequences(bot)
        return all(received.get(shard_id, 0) >= seq for shard_id, seq in targets.items())

    if targets:
        await _wait_for(caught_up, timeout)
    for _turn in range(5):  # listeners run as tasks scheduled by the dispatch
        await asyncio.sleep(0)


async def _wait_for(condition: Any, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


@dataclass
class Community:
    """A guild with channels, a moderator and members, and the real bot serving it."""

    emu: DiscordEmulator
    db: Database
    clock: FakeClock
    settings: Settings
    guild: Any
    ideas: StoryChannel
    digest: StoryChannel
    log: StoryChannel
    general: StoryChannel
    mod_role: StoryRole
    mod: StoryMember
    members: dict[str, StoryMember]
    bot: IdeaBot = field(init=False)
    warnings: list[str] = field(default_factory=list)  # duplicate warnings `submit` clicked through

    def __getattr__(self, name: str) -> StoryMember:
        members = self.__dict__.get("members", {})
        if name in members:
            return members[name]
        raise AttributeError(name)

    async def settle(self) -> None:
        """Until every vote is durable, every card edit done and every notification sent."""
        await events_delivered(self.bot, self.emu)
        await self.bot.votes.flush()
        await self.bot.board.scheduler.wait_idle()
        await self.bot.notifier.wait_sent()
        await self.bot.services.duplicates.wait_idle()

    async def create_role(self, name: str, permissions: int = 0) -> StoryRole:
        """A role created while the bot runs; Discord tells the bot with GUILD_ROLE_CREATE."""
        role = await self.guild.create_role_live(name, permissions=permissions)
        await events_delivered(self.bot, self.emu)
        return role

    def cards(self) -> list[Message]:
        return [m for m in self.emu.messages_in(self.ideas) if m.author_id == self.emu.bot_user.id]

    def card(self, number: int) -> Message:
        for message in self.cards():
            if message.embeds and message.embeds[0].get("title", "").startswith(f"#{number} "):
                return message
        raise KeyError(f"no card #{number}")

    async def submit(self, member: StoryMember, title: str, details: str, **options: Any) -> Message:
        """Submit through the slash command and return the card. When the bot points at a similar
        idea, click "post anyway" (tests of that warning drive it themselves). The clock then
        moves past the submission cooldown."""
        before = len(self.cards())
        reply = await member.run("/idea submit", title=title, details=details, channel=self.general, **options)
        with use(member.locale):
            post_anyway = _("Post anyway")
        if len(self.cards()) == before and reply.message is not None:
            anyway = [b for b in reply.message.buttons() if b.get("label") == post_anyway]
            if anyway:
                self.warnings.append(reply.text)
                reply = await member.click(reply, custom_id=anyway[0]["custom_id"])
        if len(self.cards()) == before:
            raise AssertionError(f"no card was posted: {reply.text}")
        self.clock.advance(minutes=5)
        return self.cards()[-1]


async def build_community(
    emu: DiscordEmulator,
    db: Database,
    clock: FakeClock,
    settings: Settings,
    member_names: list[str],
    *,
    name: str = "Ideas Lab",
    shard: tuple[int, int] | None = None,
    locale: str = "en-US",
) -> Community:
    """A guild (on shard `shard=(id, count)` when given) with its channels, moderator and members;
    `locale`: the guild's preferred locale and every member's Discord language."""
    guild = emu.create_guild(name, shard=shard, locale=locale)
    general = guild.create_text_channel("general")
    ideas = guild.create_text_channel("ideas")
    digest = guild.create_text_channel("digest")
    mod_role = guild.create_role("Moderators", permissions=MANAGE_GUILD)
    log = guild.create_text_channel("mod-log", visible_to=[mod_role])  # it names anonymous authors
    mod = guild.add_member("mod", roles=[mod_role], account_age=timedelta(days=900), locale=locale)
    members = {name: guild.add_member(name, account_age=timedelta(days=400), locale=locale) for name in member_names}
    members["newbie"] = guild.add_member(
        "newbie", account_age=timedelta(days=2), joined_ago=timedelta(hours=1), locale=locale
    )
    return Community(emu, db, clock, settings, guild, ideas, digest, log, general, mod_role, mod, members)


@contextlib.asynccontextmanager
async def running_community(
    emu: DiscordEmulator,
    directory: Path,
    member_names: list[str],
    *,
    clock: FakeClock | None = None,
    extensions: tuple[str, ...] = EXTENSIONS,
    locale: str = "en-US",
    database: str | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[Community]:
    """A fresh database (`database`: an SQLite path or a PostgreSQL URL; by default an SQLite
    file in `directory`), a guild with channels, a moderator and members, and the real bot
    serving it, set up: what most end-to-end tests start from."""
    path = database or str(directory / "ideabot.sqlite3")
    db = await Database.open(path)
    clock = clock or FakeClock()
    settings = emulator_settings(emu, path, **settings_overrides)
    c = await build_community(emu, db, clock, settings, member_names, locale=locale)
    try:
        async with running_bot(settings, db, clock, extensions=extensions) as bot:
            c.bot = bot
            await set_up_guild(c)
            yield c
    finally:
        await db.close()


async def set_up_guild(community: Community) -> None:
    reply = await community.mod.run(
        "/ideamod setup",
        ideas_channel=community.ideas,
        digest_channel=community.digest,
        log_channel=community.log,
        channel=community.general,
    )
    with use(community.mod.locale):
        expected = _("Set up: ")
    if expected not in reply.text:
        raise AssertionError(f"setup failed: {reply.text}")


class BotSubprocess:
    """`ideabot run` as a real process of its own (for kill and restart tests): its environment
    names the emulator and the database; stdout and stderr go to `log`."""

    def __init__(self, env: dict[str, str], log: Path, *, stop_seconds: float = 10) -> None:
        self.env = env
        self.log = log
        self.stop_seconds = stop_seconds
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        root = Path(__file__).resolve().parents[1]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"], cwd=root, env=self.env, stdout=log, stderr=log
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
