"""End-to-end: bot/app.py builds every feature service once, with typed attributes; each cog
serves the instance it was given, and a bot loaded with only the core extensions has the
services but none of their features turned on (no handlers, no jobs, no gates)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.common import CORE_EXTENSIONS
from bot.storage import Database
from bot.testing import (
    Community,
    running_community,
)
from discord_emulator import DiscordEmulator

ROOT = Path(__file__).resolve().parents[2]


async def reputation_rows(db: Database) -> int:
    async with db.conn.execute("SELECT COUNT(*) FROM reputation_events") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_each_cog_serves_the_service_the_wiring_built(community: Community) -> None:
    c = community
    services = c.bot.services
    reputation, programmes, digest, duplicates, delivery = (
        c.bot.get_cog(name) for name in ("Reputation", "Programmes", "Digest", "Duplicates", "Delivery")
    )
    assert getattr(reputation, "service", None) is services.reputation
    assert getattr(programmes, "service", None) is services.programmes
    assert getattr(digest, "digests", None) is services.digests
    assert getattr(duplicates, "duplicates", None) is services.duplicates
    assert getattr(delivery, "mailer", None) is services.mailer
    assert getattr(delivery, "webhooks", None) is services.webhooks
    assert services.programmes.reputation is services.reputation  # challenge winners get points

    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.settle()
    assert await services.reputation.total(c.guild.id, c.alice.id) == 2
    reply = await c.mod.run("/ideamod webhook list", channel=c.general)
    assert "Something went wrong" not in reply.text


@pytest.fixture
async def core_only(emulator: DiscordEmulator, tmp_path: Path) -> AsyncIterator[Community]:
    async with running_community(emulator, tmp_path, ["alice", "bob"], extensions=CORE_EXTENSIONS) as c:
        yield c


async def test_a_core_only_bot_has_the_services_but_no_feature_turned_on(core_only: Community) -> None:
    c = core_only
    assert c.bot.get_cog("Reputation") is None and c.bot.get_cog("Digest") is None
    assert c.bot.submission_gates == []  # no terms, no duplicate check
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.bob.react(card, "👍")
    await c.settle()
    assert "👍 1" in str(c.card(1).embeds[0])
    assert await reputation_rows(c.db) == 0  # the reputation handlers were never subscribed
    assert c.bot.services.reputation.reconciliations == 0


def test_no_service_is_attached_or_found_by_name() -> None:
    attached = re.compile(r"type: ignore\[attr-defined\]")
    looked_up = re.compile(r"getattr\((self\.)?bot\b|getattr\([a-z_.]*bot, \"")
    offenders = []
    for folder in ("bot", "cogs", "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                is_cog_read = "cog." in line  # tests reach into a cog's own state
                if (attached.search(line) and not is_cog_read) or looked_up.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
