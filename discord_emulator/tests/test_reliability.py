"""Rate limits, gateway drops (RESUME and re-IDENTIFY) and injected server errors."""

from __future__ import annotations

import asyncio
import time

import discord
import pytest
from discord.ext import commands
from sample_bot import Recorder

from discord_emulator import DiscordEmulator, EmulatorLimits, Limit, StoryGuild

EDIT_ROUTE = "/channels/{channel_id}/messages/{message_id}"


@pytest.fixture
def limits() -> EmulatorLimits:
    # Discord's shape (5 edits per window per channel) with a short window to keep the test fast.
    return EmulatorLimits(message_edit=Limit(5, 0.4), message_create=Limit(5, 0.4))


async def test_rate_limit_headers_drive_discord_py_limiter(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot
) -> None:
    channel = bot.get_channel(guild.channel("#ideas").id)
    assert isinstance(channel, discord.TextChannel)
    cards = [await channel.send(f"card {n}") for n in range(3)]
    started = time.monotonic()
    await asyncio.gather(*(cards[n % 3].edit(content=f"edit {n}") for n in range(12)))
    elapsed = time.monotonic() - started
    edits = [r for r in emu.requests_to("PATCH", EDIT_ROUTE) if r.status == 200]
    assert len(edits) == 12
    assert emu.stats.rate_limited <= 3  # discord.py waited on the headers instead of hammering
    assert elapsed >= 0.8  # 12 edits at 5 per 0.4 s need at least two resets
    assert sum(emu.message(c.id).edits for c in cards) == 12
    assert emu.spec_violations == []


async def test_429_answer_has_discord_shape(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    channel_id = guild.channel("#ideas").id
    session = bot.http._HTTPClient__session  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bot {emu.token}"}
    statuses = []
    for n in range(6):
        async with session.post(
            f"{emu.api_url}/channels/{channel_id}/messages", json={"content": f"m{n}"}, headers=headers
        ) as response:
            statuses.append(response.status)
            body = await response.json()
    assert statuses == [200] * 5 + [429]
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Via"] == "1.1 google"
    assert float(response.headers["X-RateLimit-Reset-After"]) <= 0.4
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert body["message"] == "You are being rate limited." and body["global"] is False
    assert 0 < body["retry_after"] <= 0.4
    assert emu.stats.by_route["POST /channels/{channel_id}/messages"] == 1


async def test_resume_replays_events_missed_while_down(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot, recorder: Recorder
) -> None:
    channel = bot.get_channel(guild.channel("#ideas").id)
    assert isinstance(channel, discord.TextChannel)
    card = emu.message((await channel.send("card")).id)
    alice, bob = guild.member("alice"), guild.member("bob")
    await emu.drop_gateway(resume=True, hold=0.2)
    assert not emu.gateway.connected
    await alice.react(card, "👍")
    await bob.react(card, "👎")
    await emu.wait_for(lambda: len(recorder.raw_adds) == 2, timeout=3)
    await emu.wait_for(lambda: recorder.resumed == 1, timeout=3)
    await asyncio.sleep(0.05)
    assert [(p.user_id, p.emoji.name) for p in recorder.raw_adds] == [(alice.id, "👍"), (bob.id, "👎")]
    assert emu.gateway.stats.resumes == 1 and emu.gateway.stats.identifies == 1
    assert emu.gateway.stats.replayed >= 2
    assert recorder.ready == 1


async def test_lost_session_identifies_again(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot, recorder: Recorder
) -> None:
    channel = bot.get_channel(guild.channel("#ideas").id)
    assert isinstance(channel, discord.TextChannel)
    card = emu.message((await channel.send("card")).id)
    await emu.drop_gateway(resume=False, hold=0.1)
    await guild.member("alice").react(card, "👍")  # no session: Discord would not replay this
    await emu.wait_for(lambda: recorder.ready == 2, timeout=5)
    assert emu.gateway.stats.invalid_sessions == 1 and emu.gateway.stats.identifies == 2
    assert recorder.raw_adds == []
    assert bot.get_guild(guild.id) is not None
    await guild.member("bob").react(card, "👍")
    await emu.wait_for(lambda: len(recorder.raw_adds) == 1, timeout=2)


async def test_injected_500_is_retried_by_discord_py(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot
) -> None:
    channel = bot.get_channel(guild.channel("#ideas").id)
    assert isinstance(channel, discord.TextChannel)
    emu.fail_next("POST", "/channels/{channel_id}/messages", status=500)
    sent = await channel.send("survives a 500")
    attempts = emu.requests_to("POST", "/channels/{channel_id}/messages")
    assert [r.status for r in attempts] == [500, 200]
    assert [m.content for m in emu.messages_in("#ideas")] == ["survives a 500"]
    assert sent.content == "survives a 500"


async def test_slow_route_delays_the_answer(emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot) -> None:
    emu.slow("GET", r"/channels/\d+", 0.15)
    started = time.monotonic()
    await bot.fetch_channel(guild.channel("#ideas").id)
    assert time.monotonic() - started >= 0.15


async def test_an_enforced_nonce_repeated_by_the_same_author_returns_the_first_message(
    emu: DiscordEmulator, guild: StoryGuild, bot: commands.Bot
) -> None:
    channel_id = guild.channel("#ideas").id
    session = bot.http._HTTPClient__session  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bot {emu.token}"}
    url = f"{emu.api_url}/channels/{channel_id}/messages"

    async def send(body: dict[str, object]) -> tuple[int, dict[str, object]]:
        async with session.post(url, json=body, headers=headers) as response:
            return response.status, await response.json()

    first = await send({"content": "hello", "nonce": "n-1", "enforce_nonce": True})
    again = await send({"content": "hello", "nonce": "n-1", "enforce_nonce": True})
    assert first[0] == again[0] == 200
    assert again[1]["id"] == first[1]["id"] and first[1]["nonce"] == "n-1"
    unenforced = await send({"content": "hello", "nonce": "n-1"})
    assert unenforced[1]["id"] != first[1]["id"]
    too_long = await send({"content": "hello", "nonce": "x" * 26, "enforce_nonce": True})
    assert too_long[0] == 400
    assert [m.content for m in emu.messages_in(guild.channel("#ideas"))].count("hello") == 2
    assert emu.world.nonce_repeats == 1
    # discord.py sends enforce_nonce with every nonce
    sent = bot.get_channel(channel_id)
    assert isinstance(sent, discord.TextChannel)
    a = await sent.send("dm-like", nonce="n-2")
    b = await sent.send("dm-like", nonce="n-2")
    assert a.id == b.id
