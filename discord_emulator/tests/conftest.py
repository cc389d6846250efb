"""Fixtures: a started emulator with one guild, and a small real discord.py bot running against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import discord
import pytest
import yarl
from discord.ext import commands
from sample_bot import Recorder, build_bot, running

from discord_emulator import DiscordEmulator, EmulatorLimits, StoryGuild


@pytest.fixture
def limits() -> EmulatorLimits:
    return EmulatorLimits()


@pytest.fixture
async def emu(limits: EmulatorLimits, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(limits=limits)
    await emulator.start()
    # monkeypatch restores both class attributes after the test.
    monkeypatch.setattr(discord.http.Route, "BASE", emulator.api_url)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(emulator.gateway_url))
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def guild(emu: DiscordEmulator) -> StoryGuild:
    lab = emu.create_guild("Ideas Lab")
    lab.create_text_channel("ideas")
    lab.create_text_channel("digest")
    lab.create_role("Moderators", permissions=1 << 5)
    lab.add_member("alice", account_age=timedelta(days=400), joined_ago=timedelta(days=100))
    lab.add_member("bob", account_age=timedelta(days=3), joined_ago=timedelta(days=1))
    return lab


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def bot(emu: DiscordEmulator, guild: StoryGuild, recorder: Recorder) -> AsyncIterator[commands.Bot]:
    async with running(build_bot(recorder), emu) as started:
        yield started
