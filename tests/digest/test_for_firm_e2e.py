"""End-to-end: the digest as the firm reads it. Which week (`current`, `last`, `YYYY-Www`), the
week so far posted without using up the week's digest, members and roles by name in every
export, no catch-up digest for a week before the server was set up, the HTML export as a
browser shows it, and `digest export` refusing a missing database or an unknown guild."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.community import guilds as guild_queries
from bot.digest.chart import chart_png
from bot.digest.exports import export
from bot.digest.rules import IsoWeek
from bot.digest.service import DigestService
from bot.storage import Database
from bot.testing import Community, FakeClock, build_community, emulator_settings, running_bot, set_up_guild
from discord_emulator import DiscordEmulator
from tests.digest.test_digest_e2e import a_week_of_ideas, cog_of, digest_messages

TUESDAY = datetime(2030, 3, 5, 12, tzinfo=UTC)  # ISO week 2030-W10
NEXT_MONDAY_9 = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)
W10 = IsoWeek(2030, 10)


async def recorded_weeks(c: Community) -> list[str]:
    async with c.db.conn.execute("SELECT iso_week FROM digests WHERE guild_id = ?", (c.guild.id,)) as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def test_week_so_far_is_posted_without_using_up_the_weeks_digest(community: Community) -> None:
    c = community
    await a_week_of_ideas(c)  # Tuesday of 2030-W10
    preview = await c.mod.run("/digest preview", week="current", channel=c.general)
    assert preview.ephemeral and preview.embeds[0]["title"].startswith("The week so far · 2030-W10")
    assert "New ideas: 2, none the week before" in preview.embeds[0]["description"]
    assert digest_messages(c) == []

    posted = await c.mod.run("/digest post", week="current", channel=c.general)
    assert posted.ephemeral and "Posted the week so far (2030-W10)" in posted.text
    titles = [m.embeds[0]["title"] for m in digest_messages(c)]
    assert len(titles) == 1 and titles[0].startswith("The week so far · 2030-W10 (until Tue 05 Mar 12:")
    assert await recorded_weeks(c) == []  # a preview in the channel, not the week's digest

    # The week's own digest still goes out on schedule, once.
    c.clock.now = NEXT_MONDAY_9 + timedelta(seconds=5)
    result = await cog_of(c).scheduler.fire(c.guild.id)
    assert result is not None and result.status == "posted" and result.week == W10
    assert [m.embeds[0]["title"] for m in digest_messages(c)][-1] == "Weekly digest · 2030-W10"
    assert await recorded_weeks(c) == ["2030-W10"]

    last = await c.mod.run("/digest preview", week="last", channel=c.general)
    assert last.embeds[0]["title"] == "Weekly digest · 2030-W10"
    default = await c.mod.run("/digest preview", channel=c.general)
    assert default.embeds[0]["title"] == "Weekly digest · 2030-W10"
    named = await c.mod.run("/digest preview", week="2030-W09", channel=c.general)
    assert named.embeds[0]["title"] == "Weekly digest · 2030-W09"
    again = await c.mod.run("/digest post", week="2030-W10", channel=c.general)
    assert "already posted" in again.text

    before = len(digest_messages(c))
    for bad, expected in (("2030-W99", "not a week"), ("next", "not a week"), ("2031-W05", "has not started yet")):
        reply = await c.mod.run("/digest post", week=bad, channel=c.general)
        assert reply.ephemeral and expected in reply.text, (bad, reply.text)
        assert "Something went wrong" not in reply.text
    assert len(digest_messages(c)) == before


async def named_week(c: Community) -> None:
    """A week in which members with display names submit, vote and earn a reward role."""
    world = c.emu.world
    alice = world.member_of(c.guild.id, c.alice.id)
    carol = world.member_of(c.guild.id, c.carol.id)
    assert alice is not None and carol is not None
    alice.nick = "Alice Liddell"
    carol.nick = "Carol Danvers"
    contributor = c.guild.create_role("Idea Champion", position=c.mod_role.target.position)
    reply = await c.mod.run("/ideamod role add", role=contributor, points=4, channel=c.general)
    assert "reward role" in reply.text
    rep = c.bot.services.reputation
    rep.role_delay = 0.05  # coalescing window, short for tests
    await a_week_of_ideas(c)  # alice's "Dark mode" gets 3 upvotes: 2 + 3 = 5 points, the role
    await c.settle()
    await rep.wait_idle()
    await c.bot.services.digests.names.flush()


async def test_exports_name_members_and_roles(community: Community) -> None:
    c = community
    await named_week(c)
    # carol only reacted: her name came with the reaction event.
    async with c.db.conn.execute(
        "SELECT display_name FROM member_names WHERE guild_id = ? AND user_id = ?", (c.guild.id, c.carol.id)
    ) as cursor:
        assert [row[0] for row in await cursor.fetchall()] == ["Carol Danvers"]

    c.clock.now = TUESDAY + timedelta(days=7)
    digest = await DigestService(c.db, c.clock).build(c.guild.id, W10)
    outputs = {fmt: export(digest, fmt) for fmt in ("md", "html", "csv", "json")}
    for fmt in ("md", "html"):
        text = outputs[fmt]
        assert "Alice Liddell · 5 points" in text, fmt
        assert "Alice Liddell → Idea Champion" in text, fmt
        assert str(c.alice.id) not in text and "user " not in text and "role " not in text, fmt
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    contributor = next(r for r in rows if r["section"] == "contributor" and r["user_id"] == str(c.alice.id))
    assert contributor["title"] == "Alice Liddell" and contributor["score"] == "5"
    promotion = next(r for r in rows if r["section"] == "promotion")
    assert (promotion["title"], promotion["detail"]) == ("Alice Liddell", "Idea Champion")
    assert promotion["user_id"] == str(c.alice.id) and promotion["role_id"] != ""
    data = json.loads(outputs["json"])
    assert {"user_id": str(c.alice.id), "name": "Alice Liddell", "label": "Alice Liddell", "points": 5} in data[
        "top_contributors"
    ]
    assert data["role_promotions"][0]["role_name"] == "Idea Champion"
    # The Discord embeds may keep names too, and never ping.
    fields = {f["name"]: f["value"] for e in (await c.mod.run("/digest preview", channel=c.general)).embeds for f in
              e.get("fields", [])}  # fmt: skip
    assert "Alice Liddell" in fields["Thank you, top contributors"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    return found


async def test_html_export_reads_well_in_a_browser(community: Community, tmp_path: Path) -> None:
    c = community
    await named_week(c)
    await c.mod.run("/ideamod status", id=1, status="planned", reason="Scheduled for <b>May</b>", channel=c.general)
    c.clock.now = TUESDAY + timedelta(days=7)
    digest = await DigestService(c.db, c.clock).build(c.guild.id, W10)
    page = tmp_path / "digest.html"
    page.write_text(export(digest, "html", chart_png(digest)), encoding="utf-8")
    shot = tmp_path / "digest.png"
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    browser = _chromium()

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [browser, *flags, *extra, page.as_uri()], capture_output=True, text=True, timeout=90, check=False
        )

    taken = await asyncio.to_thread(run, f"--screenshot={shot}", "--window-size=1200,2000")
    assert taken.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    if os.environ.get("IDEABOT_KEEP_SCREENSHOT"):  # to look at it: IDEABOT_KEEP_SCREENSHOT=/tmp/digest.png
        shutil.copy(shot, os.environ["IDEABOT_KEEP_SCREENSHOT"])
    dom = await asyncio.to_thread(run, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert "Weekly digest · 2030-W10" in text
    assert "New ideas: 2, none the week before" in text and "(+" not in text
    assert "▲ 3 up" in text and "▼ 0 down" in text  # votes readable without an emoji font
    assert "Alice Liddell · 15 points" in text and "Alice Liddell → Idea Champion" in text  # +10: planned
    assert "Scheduled for &lt;b&gt;May&lt;/b&gt;" in text  # member text escaped, not markup
    assert "None." not in text and text.count("Nothing this week:") == 1  # one line for the empty sections
    assert "Nothing this week: trending ideas, " in text and "closed challenges" in text
    assert "@media print" in text and 'src="data:image/png;base64,' in text


async def test_no_catch_up_digest_for_a_week_before_setup(
    emulator: DiscordEmulator, tmp_path: Path, database_target: str
) -> None:
    path = database_target
    db = await Database.open(path)
    clock = FakeClock(NEXT_MONDAY_9 + timedelta(hours=1))  # set up after this week's digest time
    settings = emulator_settings(emulator, path)
    c = await build_community(emulator, db, clock, settings, ["alice", "bob"])
    try:
        async with running_bot(settings, db, clock) as bot:
            c.bot = bot
            await set_up_guild(c)
        clock.advance(minutes=2)
        async with running_bot(settings, db, clock) as bot:  # a restart right after setup
            c.bot = bot
            await asyncio.wait_for(cog_of(c).caught_up.wait(), 10)
            assert await cog_of(c).scheduler.sweep() == []
            assert digest_messages(c) == []
            # The first week the server lived through is posted as usual.
            clock.advance(days=7)
            result = await cog_of(c).scheduler.fire(c.guild.id)
            assert result is not None and str(result.week) == "2030-W11"
        async with db.conn.execute("SELECT iso_week FROM digests") as cursor:
            assert [r[0] for r in await cursor.fetchall()] == ["2030-W11"]
    finally:
        await db.close()


def test_export_refuses_a_missing_database_or_an_unknown_guild(tmp_path: Path) -> None:
    config = tmp_path / "none.toml"
    config.write_text("")
    missing = tmp_path / "data" / "ideabot.sqlite3"
    runner = CliRunner()
    env = {"IDEABOT_DATABASE": str(missing), "IDEABOT_CONFIG": str(config)}
    result = runner.invoke(main, ["digest", "export", "--guild", "42", "--format", "md"], env=env)
    assert result.exit_code == 2 and "no database at" in result.stderr and result.stdout == ""
    assert not missing.exists() and not missing.parent.exists()

    path = tmp_path / "ideabot.sqlite3"

    async def prepare() -> None:
        database = await Database.open(str(path))
        async with database.transaction() as conn:
            await guild_queries.save_channels(
                conn,
                7,
                ideas_channel_id=1,
                digest_channel_id=2,
                log_channel_id=None,
                moderator_role_id=None,
                now=datetime(2025, 2, 1, tzinfo=UTC),
            )
        await database.close()

    asyncio.run(prepare())
    env["IDEABOT_DATABASE"] = str(path)
    out = tmp_path / "digest.md"
    result = runner.invoke(main, ["digest", "export", "--guild", "8", "--format", "md", "--out", str(out)], env=env)
    assert result.exit_code == 2 and "guild 8 is not set up" in result.stderr and "set-up guilds: 7" in result.stderr
    assert not out.exists()
    ok = runner.invoke(main, ["digest", "export", "--guild", "7", "--format", "md", "--week", "2025-W07"], env=env)
    assert ok.exit_code == 0 and ok.stdout.startswith("# Weekly digest · 2025-W07"), ok.output


async def test_names_from_reactions_are_written_at_most_once_an_hour(community: Community) -> None:
    c = community
    c.clock.now = TUESDAY
    cards = [
        await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work"),
        await c.submit(c.bob, title="Bike racks", details="Covered bike parking by the entrance"),
        await c.submit(c.dave, title="Quiet room", details="A room without calls for focused work"),
    ]
    names = c.bot.services.digests.names

    async def carol_row() -> tuple[str, float]:
        await c.settle()
        await names.flush()
        async with c.db.conn.execute(
            "SELECT display_name, updated_at FROM member_names WHERE guild_id = ? AND user_id = ?",
            (c.guild.id, c.carol.id),
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return str(row[0]), float(row[1])

    await c.carol.react(cards[0], "👍")
    first = await carol_row()
    assert first[0] == "carol"
    c.clock.advance(minutes=10)
    await c.carol.react(cards[1], "👍")
    assert await carol_row() == first  # the same name within the hour: not written again
    carol = c.emu.world.member_of(c.guild.id, c.carol.id)
    assert carol is not None
    carol.nick = "Carol Danvers"
    await c.carol.react(cards[2], "👍")
    renamed = await carol_row()
    assert renamed[0] == "Carol Danvers" and renamed[1] > first[1]  # a new name is written at once
    c.clock.advance(hours=2)
    await c.carol.react(cards[0], "👎")
    assert (await carol_row())[1] > renamed[1]  # refreshed after an hour
