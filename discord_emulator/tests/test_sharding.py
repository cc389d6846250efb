"""Several guilds served over sharded gateway connections, with real discord.py AutoShardedBots:
each shard's session gets only its guilds and their events, DMs go to shard 0, a dropped shard
resumes alone, and IDENTIFY pacing, invalid shards and GET /gateway/bot follow Discord."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
from discord.ext import commands
from discord_emulator.spec import SPEC_URI, load_spec
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from discord_emulator import DiscordEmulator, Message, StoryGuild, shard_for


@dataclass
class Seen:
    """What one sharded client saw: (guild id or None, shard id of the client-side guild)."""

    reactions: list[tuple[int | None, int | None]] = field(default_factory=list)
    shard_ready: list[int] = field(default_factory=list)
    shard_resumed: list[int] = field(default_factory=list)


def build_sharded(name: str, seen: Seen, *, pace: bool = True, **options: Any) -> commands.AutoShardedBot:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_reactions = True
    bot = commands.AutoShardedBot(
        command_prefix="!", intents=intents, guild_ready_timeout=0.05, help_command=None, **options
    )

    @bot.tree.command(name="where", description="Which client and shard answer")
    async def where(interaction: discord.Interaction) -> None:
        shard = interaction.guild.shard_id if interaction.guild is not None else "dm"
        await interaction.response.send_message(f"{name} shard {shard}")

    async def setup_hook() -> None:
        await bot.tree.sync()

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    if not pace:

        async def identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
            """Skips discord.py's 5 s wait between IDENTIFYs (for emulators that allow it)."""

        bot.before_identify_hook = identify_at_once  # type: ignore[method-assign]

    @bot.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        guild = bot.get_guild(payload.guild_id) if payload.guild_id else None
        seen.reactions.append((payload.guild_id, guild.shard_id if guild else None))

    @bot.event
    async def on_shard_ready(shard_id: int) -> None:
        seen.shard_ready.append(shard_id)

    @bot.event
    async def on_shard_resumed(shard_id: int) -> None:
        seen.shard_resumed.append(shard_id)

    return bot


@contextlib.asynccontextmanager
async def running(*bots: commands.AutoShardedBot, emu: DiscordEmulator, timeout: float = 5) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        tasks = []
        for bot in bots:
            await stack.enter_async_context(bot)
            tasks.append(asyncio.create_task(bot.start(emu.token)))
        try:
            await asyncio.wait_for(asyncio.gather(*(b.wait_until_ready() for b in bots)), timeout=timeout)
            yield
        finally:
            for bot in bots:
                await bot.close()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, timeout=2)


def two_shard_guilds(emu: DiscordEmulator) -> tuple[StoryGuild, StoryGuild]:
    """Guild "Zero" on shard 0 and guild "One" on shard 1 of 2, each with a member."""
    made = []
    for shard_id, name in enumerate(("Zero", "One")):
        guild = emu.create_guild(name, shard=(shard_id, 2))
        guild.create_text_channel("ideas")
        guild.add_member(f"member-{shard_id}")
        made.append(guild)
    return made[0], made[1]


def dispatched(emu: DiscordEmulator, shard: tuple[int, int], event: str) -> list[dict[str, Any]]:
    return [frame["d"] for frame in emu.gateway.sent_by_shard.get(shard, []) if frame["t"] == event]


async def card_in(bot: commands.AutoShardedBot, emu: DiscordEmulator, guild: StoryGuild) -> Message:
    channel = bot.get_channel(guild.channel("#ideas").id)
    assert isinstance(channel, discord.TextChannel)
    return emu.message((await channel.send("card")).id)


async def test_one_process_with_two_shards_sees_each_guild_once_and_its_events_on_its_shard(
    emu: DiscordEmulator,
) -> None:
    zero, one = two_shard_guilds(emu)
    emu.gateway.limits.recommended_shards = 2
    seen = Seen()
    # No shard_count: discord.py asks GET /gateway/bot, and paces its IDENTIFYs itself (5 s).
    bot = build_sharded("solo", seen)
    async with running(bot, emu=emu, timeout=15):
        assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
        assert sorted((g.id, g.shard_id) for g in bot.guilds) == sorted([(zero.id, 0), (one.id, 1)])
        for shard_id, guild in ((0, zero), (1, one)):
            (ready,) = dispatched(emu, (shard_id, 2), "READY")
            assert ready["shard"] == [shard_id, 2]
            assert ready["guilds"] == [{"id": str(guild.id), "unavailable": True}]
            assert [g["id"] for g in dispatched(emu, (shard_id, 2), "GUILD_CREATE")] == [str(guild.id)]

        cards = {zero.id: await card_in(bot, emu, zero), one.id: await card_in(bot, emu, one)}
        await zero.member("member-0").react(cards[zero.id], "👍")
        await one.member("member-1").react(cards[one.id], "👍")
        await emu.wait_for(lambda: len(seen.reactions) == 2, timeout=3)
        assert sorted(seen.reactions) == sorted([(zero.id, 0), (one.id, 1)])
        for shard_id, guild in ((0, zero), (1, one)):
            reactions = dispatched(emu, (shard_id, 2), "MESSAGE_REACTION_ADD")
            assert [r["guild_id"] for r in reactions] == [str(guild.id)]

        assert (await zero.member("member-0").run("/where")).content == "solo shard 0"
        assert (await one.member("member-1").run("/where")).content == "solo shard 1"
        for shard_id, guild in ((0, zero), (1, one)):
            interactions = dispatched(emu, (shard_id, 2), "INTERACTION_CREATE")
            assert [i["guild_id"] for i in interactions] == [str(guild.id)]

    stats = emu.gateway.stats
    assert stats.identifies == 2 and stats.identify_too_fast == 0  # discord.py's own pacing suffices
    assert len(emu.requests_to("GET", "/gateway/bot")) == 1
    assert emu.spec_violations == []


async def test_two_processes_with_one_shard_each_see_only_their_guilds_and_events(emu: DiscordEmulator) -> None:
    zero, one = two_shard_guilds(emu)
    also_zero = emu.create_guild("Also zero", shard=(0, 2))
    also_zero.create_text_channel("ideas")
    member = zero.add_member("dana")
    emu.gateway.limits.max_concurrency = 2  # both processes may IDENTIFY at once: buckets 0 and 1
    seen_a, seen_b = Seen(), Seen()
    first = build_sharded("first", seen_a, shard_ids=[0], shard_count=2)
    second = build_sharded("second", seen_b, shard_ids=[1], shard_count=2)
    async with running(first, second, emu=emu):
        assert {g.id for g in first.guilds} == {zero.id, also_zero.id}
        assert {g.id for g in second.guilds} == {one.id}
        assert emu.gateway.session_for(0) is emu.gateway.current
        assert sorted(emu.gateway.shards) == [(0, 2), (1, 2)]

        await zero.member("member-0").react(await card_in(first, emu, zero), "👍")
        await also_zero.member("owner").react(await card_in(first, emu, also_zero), "👎")
        await one.member("member-1").react(await card_in(second, emu, one), "👍")
        await emu.wait_for(lambda: len(seen_a.reactions) == 2 and len(seen_b.reactions) == 1, timeout=3)
        await asyncio.sleep(0.05)
        assert sorted(seen_a.reactions) == sorted([(zero.id, 0), (also_zero.id, 0)])
        assert seen_b.reactions == [(one.id, 1)]

        assert (await zero.member("member-0").run("/where")).content == "first shard 0"
        assert (await one.member("member-1").run("/where")).content == "second shard 1"
        # A DM has no guild: it goes to shard 0, as on Discord.
        assert (await member.run("/where", channel=emu.dm_channel(member))).content == "first shard dm"
        assert [i.get("guild_id") for i in dispatched(emu, (1, 2), "INTERACTION_CREATE")] == [str(one.id)]
    assert emu.gateway.stats.identify_too_fast == 0
    assert emu.spec_violations == []


async def test_a_dropped_shard_resumes_with_only_its_missed_events(emu: DiscordEmulator) -> None:
    zero, one = two_shard_guilds(emu)
    emu.gateway.limits.max_concurrency = 2
    seen = Seen()
    bot = build_sharded("solo", seen, pace=False, shard_count=2)
    async with running(bot, emu=emu):
        cards = {zero.id: await card_in(bot, emu, zero), one.id: await card_in(bot, emu, one)}
        shard0 = emu.gateway.session_for(0)
        shard1 = emu.gateway.session_for(1)
        assert shard0 is not None and shard1 is not None
        socket0 = shard0.socket
        connections = emu.gateway.stats.connections

        await emu.drop_gateway(shard=1, resume=True, hold=1.0)
        assert not emu.gateway.shard_connected(1) and emu.gateway.shard_connected(0)
        await one.member("member-1").react(cards[one.id], "👍")
        await one.member("owner").react(cards[one.id], "👎")
        await zero.member("member-0").react(cards[zero.id], "👍")
        # Shard 0 is untouched: it gets its event while shard 1 is still away.
        await emu.wait_for(lambda: (zero.id, 0) in seen.reactions, timeout=2)
        assert (one.id, 1) not in seen.reactions
        await emu.wait_for(lambda: seen.shard_resumed == [1], timeout=5)
        await emu.wait_for(lambda: len(seen.reactions) == 3, timeout=2)

        assert sorted(seen.reactions) == sorted([(zero.id, 0), (one.id, 1), (one.id, 1)])
        stats = emu.gateway.stats
        assert stats.resumes == 1 and stats.identifies == 2 and stats.replayed == 2
        assert stats.connections == connections + 1
        assert emu.gateway.session_for(0) is shard0 and shard0.socket is socket0
        assert emu.gateway.session_for(1) is shard1 and emu.gateway.shard_connected(1)
        replayed = [f for f in emu.gateway.sent_by_shard[(1, 2)] if f["t"] == "MESSAGE_REACTION_ADD"]
        assert [f["d"]["guild_id"] for f in replayed] == [str(one.id)] * 2
        assert seen.shard_ready.count(1) == 1  # resumed, not identified again

        # Dropping shard 1 for good makes only shard 1 identify anew.
        await emu.drop_gateway(shard=1, resume=False)
        await emu.wait_until_connected(timeout=5, shard=1)
        assert emu.gateway.stats.identifies == 3
        assert emu.gateway.session_for(1) is not shard1 and emu.gateway.session_for(0) is shard0
        assert shard0.socket is socket0


async def test_identifies_faster_than_max_concurrency_are_recorded(emu: DiscordEmulator) -> None:
    two_shard_guilds(emu)
    seen = Seen()
    bot = build_sharded("hasty", seen, pace=False, shard_count=2)
    async with running(bot, emu=emu):
        pass
    # max_concurrency 1: both shards share bucket 0, and shard 1 identified at once.
    assert emu.gateway.stats.identify_too_fast == 1
    ((shard_id, shard_count, since),) = emu.gateway.pacing_violations
    assert (shard_id, shard_count) == (1, 2) and since < emu.gateway.limits.identify_window


# --- the protocol, spoken by a raw websocket client -------------------------------------


class RawShard:
    """A minimal gateway client: HELLO, IDENTIFY with a shard, then reads frames."""

    def __init__(self, session: aiohttp.ClientSession, emu: DiscordEmulator) -> None:
        self.http = session
        self.emu = emu
        self.socket: aiohttp.ClientWebSocketResponse | None = None

    async def identify(self, shard: Any, *, intents: int = (1 << 0) | (1 << 10) | (1 << 13)) -> dict[str, Any]:
        """The first frame after IDENTIFY (READY, INVALID_SESSION) or {"close": code}."""
        self.socket = await self.http.ws_connect(self.emu.gateway_url)
        hello = await self.socket.receive_json()
        assert hello["op"] == 10
        data: dict[str, Any] = {"token": self.emu.token, "intents": intents, "properties": {}}
        if shard is not None:
            data["shard"] = shard
        await self.socket.send_json({"op": 2, "d": data})
        return await self.next()

    async def next(self, timeout: float = 2) -> dict[str, Any]:
        assert self.socket is not None
        message = await self.socket.receive(timeout=timeout)
        if message.type == aiohttp.WSMsgType.TEXT:
            frame: dict[str, Any] = json.loads(message.data)
            return frame
        return {"close": self.socket.close_code}

    async def events(self, name: str) -> list[dict[str, Any]]:
        """Frames of one event type received so far (waits briefly for stragglers)."""
        found = []
        with contextlib.suppress(TimeoutError):
            while True:
                frame = await self.next(timeout=0.1)
                if "close" in frame:
                    break
                if frame.get("t") == name:
                    found.append(frame["d"])
        return found


@contextlib.asynccontextmanager
async def raw_clients(emu: DiscordEmulator, count: int) -> AsyncIterator[list[RawShard]]:
    async with aiohttp.ClientSession() as http:
        clients = [RawShard(http, emu) for _ in range(count)]
        try:
            yield clients
        finally:
            for client in clients:
                if client.socket is not None:
                    await client.socket.close()


async def test_invalid_shards_are_closed_with_4010(emu: DiscordEmulator) -> None:
    two_shard_guilds(emu)
    emu.gateway.limits.identify_window = 0
    async with raw_clients(emu, 5) as clients:
        for client, shard in zip(clients, ([2, 2], [0, 0], [-1, 2], ["0", "2"], [0]), strict=True):
            assert await client.identify(shard) == {"close": 4010}, shard
    assert emu.gateway.stats.invalid_shards == 5 and emu.gateway.stats.identifies == 0
    assert emu.gateway.shards == {}


async def test_sharding_required_when_configured(emu: DiscordEmulator) -> None:
    two_shard_guilds(emu)
    limits = emu.gateway.limits
    limits.identify_window = 0
    limits.guilds_per_shard = 1
    async with raw_clients(emu, 3) as (unsharded, first, second):
        assert await unsharded.identify(None) != {"close": 4011}  # not enforced unless asked
        limits.sharding_required = True
        assert await first.identify([0, 1]) == {"close": 4011}
        ready = await second.identify([1, 2])
        assert ready["t"] == "READY" and len(ready["d"]["guilds"]) == 1
    assert emu.gateway.stats.sharding_required == 1


async def test_same_shard_replaces_its_session_and_other_counts_coexist_while_resharding(
    emu: DiscordEmulator,
) -> None:
    zero, one = two_shard_guilds(emu)
    emu.gateway.limits.identify_window = 0
    card_zero = emu.message((await emu.rest.post_message(_message(emu, zero))).id)
    card_one = emu.message((await emu.rest.post_message(_message(emu, one))).id)
    async with raw_clients(emu, 4) as (old, new0, new1, again1):
        ready = await old.identify(None)
        assert ready["d"]["shard"] == [0, 1] and len(ready["d"]["guilds"]) == 2
        assert (await new0.identify([0, 2]))["d"]["guilds"] == [{"id": str(zero.id), "unavailable": True}]
        assert (await new1.identify([1, 2]))["d"]["guilds"] == [{"id": str(one.id), "unavailable": True}]
        first_new1 = emu.gateway.session_for(1, 2)
        # The same shard identifying again replaces the old session and closes its socket.
        await again1.identify([1, 2])
        assert (await new1.events("any")) == [] and new1.socket is not None and new1.socket.closed
        assert emu.gateway.session_for(1, 2) is not first_new1
        assert sorted(emu.gateway.shards) == [(0, 1), (0, 2), (1, 2)]
        assert emu.gateway.current is emu.gateway.session_for(0, 2)

        await one.member("member-1").react(card_one, "👍")
        await zero.member("member-0").react(card_zero, "👍")
        # During re-sharding both shard counts get the guild's events, from their owning shard.
        assert [r["guild_id"] for r in await old.events("MESSAGE_REACTION_ADD")] == [str(one.id), str(zero.id)]
        assert [r["guild_id"] for r in await new0.events("MESSAGE_REACTION_ADD")] == [str(zero.id)]
        assert [r["guild_id"] for r in await again1.events("MESSAGE_REACTION_ADD")] == [str(one.id)]
        # The old set closing cleanly ends its session; the new set carries on.
        assert old.socket is not None
        await old.socket.close()
        await emu.wait_for(lambda: (0, 1) not in emu.gateway.shards, timeout=2)
        assert sorted(emu.gateway.shards) == [(0, 2), (1, 2)]


def _message(emu: DiscordEmulator, guild: StoryGuild) -> Message:
    return Message(
        id=emu.world.new_id(),
        channel_id=guild.channel("#ideas").id,
        guild_id=guild.id,
        author=emu.bot_user,
        content="c",
    )


async def test_enforced_pacing_answers_invalid_session(emu: DiscordEmulator) -> None:
    two_shard_guilds(emu)
    limits = emu.gateway.limits
    limits.identify_window = 0.3
    limits.enforce_identify_pacing = True
    async with raw_clients(emu, 3) as (first, hasty, patient):
        assert (await first.identify([0, 2]))["t"] == "READY"
        assert await hasty.identify([1, 2]) == {"op": 9, "d": False}
        await asyncio.sleep(0.3)
        assert (await patient.identify([1, 2]))["t"] == "READY"
        assert emu.gateway.session_for(1, 2) is not None
    stats = emu.gateway.stats
    assert stats.identify_too_fast == 1 and stats.identifies == 2


async def test_gateway_bot_matches_the_spec_and_counts_session_starts(emu: DiscordEmulator) -> None:
    document = load_spec()
    assert document is not None
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    schemas = document["components"]["schemas"]
    validator = Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/GatewayBotResponse"}, registry=registry)
    headers = {"Authorization": f"Bot {emu.token}"}

    async def gateway_bot(http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get(f"{emu.api_url}/gateway/bot", headers=headers) as response:
            assert response.status == 200
            body: dict[str, Any] = await response.json()
        validator.validate(body)
        assert set(body) == set(schemas["GatewayBotResponse"]["properties"])
        limit_schema = schemas["GatewayBotSessionStartLimitResponse"]["properties"]
        assert set(body["session_start_limit"]) == set(limit_schema)
        return body

    emu.create_guild("Only")
    emu.gateway.limits.identify_window = 0
    async with aiohttp.ClientSession() as http:
        fresh = await gateway_bot(http)
        assert fresh["url"] == emu.gateway_url and fresh["shards"] == 1
        assert fresh["session_start_limit"] == {
            "total": 1000,
            "remaining": 1000,
            "reset_after": 86_400_000,
            "max_concurrency": 1,
        }
        async with raw_clients(emu, 2) as clients:
            for client, shard in zip(clients, ([0, 2], [1, 2]), strict=True):
                assert (await client.identify(shard))["t"] == "READY"
        used = (await gateway_bot(http))["session_start_limit"]
        assert used["remaining"] == 998 and 0 < used["reset_after"] <= 86_400_000

        # One shard per 2,500 guilds (the limit is lowered here to keep the test small).
        emu.gateway.limits.guilds_per_shard = 2
        for n in range(4):
            emu.create_guild(f"More {n}")
        assert (await gateway_bot(http))["shards"] == 3
        emu.gateway.limits.recommended_shards = 8
        assert (await gateway_bot(http))["shards"] == 8
    assert emu.spec_violations == []


def test_guilds_can_be_created_on_a_chosen_shard(emu: DiscordEmulator) -> None:
    for shard_id in range(4):
        guild = emu.create_guild(f"g{shard_id}", shard=(shard_id, 4))
        assert shard_for(guild.id, 4) == shard_id
