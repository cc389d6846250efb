"""End-to-end: the weekly digest through the emulator: scheduled once per week on a controlled
clock, a missed run caught up once after a restart, /digest post and preview for moderators and
refused for members, long digests split across messages, the chart attached."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from discord_emulator.state import Message

from bot.ideas.rules import Status
from bot.storage import Database
from bot.testing import Community, FakeClock, build_community, emulator_settings, running_bot, set_up_guild
from discord_emulator import DiscordEmulator
from tests.digest.test_service import Seeder

TUESDAY = datetime(2030, 3, 5, 12, tzinfo=UTC)  # ISO week 2030-W10
NEXT_MONDAY_9 = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)


def digest_messages(c: Community) -> list[Message]:
    return [m for m in c.emu.messages_in(c.digest) if m.author_id == c.emu.bot_user.id]


def cog_of(c: Community) -> Any:
    """The loaded cog (discord.py loads extensions as fresh module objects: no isinstance)."""
    cog = c.bot.get_cog("Digest")
    assert cog is not None and type(cog).__name__ == "DigestCog"
    return cog


async def a_week_of_ideas(c: Community) -> None:
    c.clock.now = TUESDAY
    dark = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.submit(c.bob, title="Export to CSV", details="Download the weekly report as a CSV file")
    for member in (c.bob, c.carol, c.dave):
        await member.react(dark, "👍")
    await c.settle()


async def test_scheduled_digest_fires_once_per_week(community: Community) -> None:
    c = community
    await a_week_of_ideas(c)
    cog = cog_of(c)
    c.clock.now = NEXT_MONDAY_9 - timedelta(minutes=1)
    assert await cog.scheduler.fire(c.guild.id) is None  # not yet
    c.clock.now = NEXT_MONDAY_9 + timedelta(seconds=5)
    posted = await cog.scheduler.fire(c.guild.id)
    assert posted is not None and str(posted.week) == "2030-W10"
    assert await cog.scheduler.fire(c.guild.id) is None
    assert await cog.scheduler.sweep() == []
    messages = digest_messages(c)
    assert len(messages) == 1
    head = messages[0].embeds[0]
    assert head["title"] == "Weekly digest · 2030-W10"
    assert "New ideas: 2" in head["description"] and "Votes: 3" in head["description"]
    fields = {f["name"]: f["value"] for e in messages[0].embeds for f in e["fields"]}
    assert fields["Top new ideas"].startswith("#1 Dark mode")
    assert messages[0].allowed_mentions == {"parse": []}
    # The chart is attached and shown in the embed.
    assert [a.filename for a in messages[0].attachments] == ["digest-chart.png"]
    assert messages[0].attachments[0].data.startswith(b"\x89PNG")
    assert head["image"]["url"].endswith("digest-chart.png")
    # The next week's run posts the next digest, once.
    c.clock.advance(days=7)
    assert (await cog.scheduler.fire(c.guild.id)) is not None
    assert await cog.scheduler.fire(c.guild.id) is None
    assert len(digest_messages(c)) == 2


async def test_schedule_command_sets_the_cron_job_in_the_guild_zone(community: Community) -> None:
    c = community
    reply = await c.mod.run("/digest schedule", weekday="friday", hour=17, timezone="Europe/Berlin", channel=c.general)
    assert reply.ephemeral and "every Friday at 17:00 (Europe/Berlin)" in reply.text
    upcoming = cog_of(c).scheduler.next_run(c.guild.id)
    assert upcoming is not None and upcoming.weekday() == 4 and upcoming.astimezone(UTC).hour in (15, 16)
    bad = await c.mod.run("/digest schedule", weekday="monday", hour=9, timezone="Mars/Base", channel=c.general)
    assert bad.ephemeral and "Unknown time zone" in bad.text
    refused = await c.alice.run("/digest schedule", weekday="monday", hour=9, timezone="UTC", channel=c.general)
    assert refused.ephemeral and "moderators" in refused.text


async def test_post_by_moderator_and_refusal_for_members(community: Community) -> None:
    c = community
    # The programme feeds the digest: support stage 1 at 3 upvotes, archiving after 90 quiet days.
    reply = await c.mod.run("/ideamod thresholds", stages="3/30", archive_days=90, channel=c.general)
    assert reply.ephemeral
    c.clock.now = TUESDAY - timedelta(days=100)
    await c.submit(c.erin, title="Printer in the lobby", details="A shared printer downstairs")
    await a_week_of_ideas(c)  # "Dark mode" gets its third upvote: stage 1, recorded by the programme
    await c.bot.services.programmes.tick(c.clock())  # the quiet printer idea is archived
    await c.settle()
    c.clock.now = TUESDAY + timedelta(days=7)
    refused = await c.alice.run("/digest post", channel=c.general)
    assert refused.ephemeral and "moderators" in refused.text
    preview_refused = await c.alice.run("/digest preview", channel=c.general)
    assert preview_refused.ephemeral and "moderators" in preview_refused.text
    assert digest_messages(c) == []
    preview = await c.mod.run("/digest preview", channel=c.general)
    assert preview.ephemeral and preview.embeds[0]["title"] == "Weekly digest · 2030-W10"
    assert digest_messages(c) == []
    posted = await c.mod.run("/digest post", channel=c.general)
    assert posted.ephemeral and "Posted the digest for 2030-W10" in posted.text
    again = await c.mod.run("/digest post", channel=c.general)
    assert "already posted" in again.text
    assert len(digest_messages(c)) == 1
    fields = {f["name"]: f["value"] for e in digest_messages(c)[0].embeds for f in e["fields"]}
    assert fields["Reached a support stage"].startswith("#2 Dark mode")
    assert "stage 1: 3 upvotes within 30 days" in fields["Reached a support stage"]
    archived = fields["Archived (no answer and no votes for too long)"]
    assert archived.startswith("#1 Printer in the lobby") and "archived Tue 05 Mar" in archived
    assert "Printer" not in fields.get("Waiting for an answer (over 14 days)", "")


async def test_long_digest_is_split_across_messages(community: Community) -> None:
    c = community
    c.clock.now = TUESDAY
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    seeder = Seeder(c.db)
    for n in range(40):
        idea_id = await seeder.idea(
            c.bob.id, f"Idea number {n} " + "w" * 60, "details " * 20, TUESDAY, guild=c.guild.id
        )
        await seeder.status(idea_id, Status.DECLINED, f"Reason {n}: " + "because " * 55, TUESDAY + timedelta(hours=1))
    c.clock.now = TUESDAY + timedelta(days=7)
    posted = await c.mod.run("/digest post", channel=c.general)
    assert "Posted" in posted.text
    messages = digest_messages(c)
    assert len(messages) >= 2
    for message in messages:
        assert len(message.embeds) <= 10
        assert message.allowed_mentions == {"parse": []}
    assert messages[0].attachments and not messages[1].attachments
    names = [f["name"] for m in messages for e in m.embeds for f in e["fields"]]
    assert names.count("Decisions (cont.)") >= 3


async def test_missed_run_is_caught_up_once_after_restart(
    emulator: DiscordEmulator, tmp_path: Path, database_target: str
) -> None:
    path = database_target
    db = await Database.open(path)
    clock = FakeClock(TUESDAY)
    settings = emulator_settings(emulator, path)
    c = await build_community(emulator, db, clock, settings, ["alice", "bob"])
    try:
        async with running_bot(settings, db, clock) as bot:
            c.bot = bot
            await set_up_guild(c)
            await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
        # Down over Monday 09:00; back on Wednesday.
        clock.now = NEXT_MONDAY_9 + timedelta(days=2)
        for _ in range(2):  # the second restart must not post it again
            async with running_bot(settings, db, clock) as bot:
                c.bot = bot
                await asyncio.wait_for(cog_of(c).caught_up.wait(), 10)
            assert len(digest_messages(c)) == 1
        assert "2030-W10" in digest_messages(c)[0].embeds[0]["title"]
        async with db.conn.execute("SELECT trigger, status FROM digests") as cursor:
            assert [tuple(r) for r in await cursor.fetchall()] == [("catch-up", "posted")]
    finally:
        await db.close()
