"""The digest service on a real SQLite database: aggregates, exactly-once posting, the renderers,
the exports and the `ideabot digest export` command."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.community import guilds as guild_queries
from bot.core.errors import UserFacingError
from bot.digest.chart import chart_png
from bot.digest.exports import to_csv, to_html, to_json, to_markdown
from bot.digest.render import EMBEDS_PER_MESSAGE, digest_embeds
from bot.digest.rules import Digest, IsoWeek
from bot.digest.service import DigestService
from bot.edge.embeds import EMBED_DESCRIPTION_MAX, EMBED_TOTAL_MAX, FIELD_VALUE_MAX, FIELDS_MAX
from bot.ideas import storage as idea_queries
from bot.ideas.rules import IdeaDraft, Status
from bot.storage import Database
from bot.storage.rows import to_ts
from bot.testing import FakeClock
from bot.votes import storage as vote_queries

GUILD = 1
W7 = IsoWeek(2025, 7)
MONDAY = datetime(2025, 2, 10, tzinfo=UTC)  # W7 starts
AFTER = datetime(2025, 2, 17, 9, 30, tzinfo=UTC)  # Monday of W8, after the 09:00 run


MESSAGE_IDS = itertools.count(1000)


class Seeder:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def idea(self, author: int, title: str, body: str, at: datetime, guild: int = GUILD) -> int:
        async with self.db.transaction() as conn:
            idea = await idea_queries.insert_idea(conn, guild, author, IdeaDraft(title, body), at)
            message_id = next(MESSAGE_IDS)
            await idea_queries.attach_card(conn, idea.id, channel_id=5, message_id=message_id, thread_id=None)
        return idea.id

    async def votes(self, idea_id: int, voters: range | list[int], value: int, at: datetime) -> None:
        async with self.db.transaction() as conn:
            for voter in voters:
                old = await vote_queries.get_vote(conn, idea_id, voter)
                await vote_queries.put_vote(conn, idea_id, voter, old, value, None, at)

    async def status(self, idea_id: int, status: Status, reason: str | None, at: datetime) -> None:
        async with self.db.transaction() as conn:
            idea = await idea_queries.get_idea(conn, idea_id)
            assert idea is not None
            await idea_queries.set_status(conn, idea, status, reason, 99, at)


async def seed_week(db: Database) -> dict[str, int]:
    """A week with new ideas, a trending old idea, decisions, a waiting idea and a crossing."""
    s = Seeder(db)
    async with db.transaction() as conn:
        await guild_queries.save_channels(
            conn,
            GUILD,
            ideas_channel_id=5,
            digest_channel_id=6,
            log_channel_id=None,
            moderator_role_id=None,
            now=MONDAY,
        )
    ids: dict[str, int] = {}
    old = MONDAY - timedelta(days=60)
    ids["old"] = await s.idea(10, "Dark mode for the dashboard", "A dark theme for late nights", old)
    await s.votes(ids["old"], [100, 101], 1, old + timedelta(days=1))
    await s.votes(ids["old"], range(200, 212), 1, MONDAY + timedelta(days=2))  # 12 votes this week: trending
    ids["waiting"] = await s.idea(
        11, "Faster search", "Search takes seconds on big servers", MONDAY - timedelta(days=30)
    )
    await s.votes(ids["waiting"], [100], 1, MONDAY - timedelta(days=29))
    ids["decided"] = await s.idea(12, "Pay with crypto", "Accept crypto payments", MONDAY - timedelta(days=20))
    await s.status(ids["decided"], Status.DECLINED, "Regulation makes it impossible", MONDAY + timedelta(days=3))
    # Last week: one idea, three votes.
    prev = await s.idea(13, "CSV export", "Export the report as a CSV file", MONDAY - timedelta(days=3))
    await s.votes(prev, [300, 301, 302], 1, MONDAY - timedelta(days=2))
    # This week: three new ideas.
    ids["dark2"] = await s.idea(
        14, "Dark theme on mobile", "The mobile app needs a dark theme", MONDAY + timedelta(hours=5)
    )
    await s.votes(ids["dark2"], range(400, 405), 1, MONDAY + timedelta(days=1))
    ids["csv2"] = await s.idea(
        15, "CSV import of contacts", "Import contacts from a CSV file", MONDAY + timedelta(days=4)
    )
    await s.votes(ids["csv2"], [400, 401], 1, MONDAY + timedelta(days=4, hours=1))
    await s.votes(ids["csv2"], [402], -1, MONDAY + timedelta(days=4, hours=2))
    ids["quiet"] = await s.idea(
        16, "Dark colours in the editor", "Dark colours for the code editor", MONDAY + timedelta(days=6)
    )
    # Next week (must not count).
    await s.idea(17, "Future idea", "Submitted after the week", MONDAY + timedelta(days=8))
    return ids


@pytest.fixture
async def db(database_target: str) -> AsyncIterator[Database]:
    database = await Database.open(database_target)
    try:
        yield database
    finally:
        await database.close()


class RecordingPublisher:
    def __init__(self, fail: bool = False) -> None:
        self.posted: list[tuple[Digest, int]] = []
        self.fail = fail

    async def publish(self, digest: Digest, channel_id: int) -> int:
        if self.fail:
            raise RuntimeError("Discord is down")
        self.posted.append((digest, channel_id))
        return 5000 + len(self.posted)


async def test_build_counts_ranks_and_lists(db: Database) -> None:
    ids = await seed_week(db)
    service = DigestService(db, FakeClock(AFTER))
    digest = await service.build(GUILD)
    assert digest.week == W7
    assert (digest.counts.new_ideas, digest.previous.new_ideas) == (3, 1)
    assert (digest.counts.votes, digest.previous.votes) == (12 + 5 + 3, 3)
    # Voters 200-211 and 400-404 (402 voted twice), plus the authors 14, 15 and 16.
    assert digest.counts.active_members == 12 + 5 + 3
    assert [i.number for i in digest.top_new] == [5, 6]  # dark2 (5 up) beats csv2 (2 up, 1 down)
    assert [i.id for i in digest.trending] == [ids["old"]]
    # 2 → 14 upvotes, but no support stage was recorded (threshold_crossings): the digest
    # does not compute crossings itself (tests/digest/test_programmes_in_digest.py).
    assert digest.crossed == [] and digest.crossed_total == 0
    assert digest.archived == digest.expired == digest.challenges == []
    assert [(s.idea.id, s.new_status, s.reason) for s in digest.status_changes] == [
        (ids["decided"], "declined", "Regulation makes it impossible")
    ]
    # Open for more than 14 days without an answer, the most supported first.
    assert [i.id for i in digest.waiting] == [ids["old"], ids["waiting"]] and digest.waiting_total == 2
    assert sum(day.ideas for day in digest.days) == 3 and sum(day.votes for day in digest.days) == 20
    assert [day.votes for day in digest.days] == [0, 5, 12, 0, 3, 0, 0]
    assert digest.contributors == [] and digest.promotions == []  # no reputation tables needed
    assert digest.themes_from == "keywords" and digest.fallback_note is None
    assert any(t.idea_numbers == (5, 7) for t in digest.themes)  # "dark" ideas of the week


async def test_reputation_tables_feed_contributors_and_promotions(db: Database) -> None:
    await seed_week(db)
    async with db.transaction() as conn:
        cols = "guild_id, user_id, delta, reason, idea_id, source, at"
        for user, delta, day in ((14, 12, 1), (14, 3, 2), (15, 4, 4), (16, -2, 5), (99, 50, 9)):
            await conn.execute(
                f"INSERT INTO reputation_events ({cols}) VALUES (?, ?, ?, 'r', NULL, 's', ?)",
                (GUILD, user, delta, to_ts(MONDAY + timedelta(days=day))),
            )
        await conn.execute(
            "INSERT INTO role_awards (guild_id, user_id, role_id, action, at) VALUES (?, ?, ?, 'added', ?)",
            (GUILD, 14, 777, to_ts(MONDAY + timedelta(days=2))),
        )
    digest = await DigestService(db, FakeClock(AFTER)).build(GUILD)
    assert [(c.user_id, c.points) for c in digest.contributors] == [(14, 15), (15, 4)]
    assert [(p.user_id, p.role_id) for p in digest.promotions] == [(14, 777)]


async def test_post_exactly_once_per_week_and_release_on_failure(db: Database) -> None:
    await seed_week(db)
    clock = FakeClock(AFTER)
    failing = DigestService(db, clock, publisher=RecordingPublisher(fail=True))
    with pytest.raises(RuntimeError):
        await failing.run_due(GUILD)
    assert await failing.due_week(GUILD) == W7  # the claim was released: it will be retried
    publisher = RecordingPublisher()
    service = DigestService(db, clock, publisher=publisher)
    first = await service.run_due(GUILD)
    assert first is not None and first.status == "posted" and first.week == W7 and first.channel_id == 6
    assert await service.run_due(GUILD) is None
    again = await service.post(GUILD, W7)
    assert again.status == "already" and again.message_id == first.message_id
    assert len(publisher.posted) == 1
    clock.advance(days=7)
    assert (await service.run_due(GUILD)) is not None  # next week's
    async with db.conn.execute("SELECT iso_week, status FROM digests ORDER BY iso_week") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [("2025-W07", "posted"), ("2025-W08", "posted")]


async def test_schedule_is_per_guild_and_validated(db: Database) -> None:
    service = DigestService(db, FakeClock(AFTER))
    assert (await service.schedule(GUILD)).describe() == "every Monday at 09:00 (UTC)"
    saved = await service.set_schedule(GUILD, "friday", 17, "Europe/Berlin")
    assert (saved.weekday, saved.hour, saved.timezone) == (4, 17, "Europe/Berlin")
    assert (await service.schedule(2)).weekday == 0
    waiting = await service.set_waiting_days(GUILD, 7)
    assert (waiting.waiting_days, waiting.weekday, waiting.hour) == (7, 4, 17)
    with pytest.raises(UserFacingError):
        await service.set_waiting_days(GUILD, 0)


async def test_renderers_fit_discord_limits_and_split_long_digests(db: Database) -> None:
    ids = await seed_week(db)
    s = Seeder(db)
    for n in range(80):  # many long decisions: the digest must split across embeds and messages
        await s.status(
            ids["waiting"], Status.UNDER_REVIEW if n % 2 else Status.OPEN, "r" * 480, MONDAY + timedelta(hours=n)
        )
    digest = await DigestService(db, FakeClock(AFTER)).build(GUILD)
    digest.status_changes = digest.status_changes * 3
    messages = digest_embeds(digest)
    assert len(messages) >= 2
    for embeds in messages:
        assert 1 <= len(embeds) <= EMBEDS_PER_MESSAGE
        total = 0
        for embed in embeds:
            assert len(embed.title or "") <= 256 and len(embed.description or "") <= EMBED_DESCRIPTION_MAX
            assert len(embed.fields) <= FIELDS_MAX
            assert all(len(f.value or "") <= FIELD_VALUE_MAX and len(f.name or "") <= 256 for f in embed.fields)
            total += len(embed.title or "") + len(embed.description or "") + len(embed.footer.text or "")
            total += sum(len(f.name or "") + len(f.value or "") for f in embed.fields)
        assert total <= EMBED_TOTAL_MAX
    names = [f.name for embeds in messages for e in embeds for f in e.fields]
    assert "Decisions" in names and "Decisions (cont.)" in names and "Themes" in names
    assert messages[0][0].image.url == "attachment://digest-chart.png"


async def test_exports_and_chart(db: Database) -> None:
    await seed_week(db)
    digest = await DigestService(db, FakeClock(AFTER)).build(GUILD)
    png = chart_png(digest)
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    md = to_markdown(digest)
    assert md.startswith("# Weekly digest · 2025-W07") and "## Decisions" in md and "Regulation" in md
    page = to_html(digest, png)
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page and "http" not in page
    data = json.loads(to_json(digest))
    assert data["week"] == "2025-W07" and data["counts"]["new_ideas"] == 3 and data["previous"]["votes"] == 3
    rows = list(csv.DictReader(io.StringIO(to_csv(digest))))
    assert {"count", "day", "top_new", "trending", "status_change", "waiting", "theme"} <= {r["section"] for r in rows}


async def test_exports_escape_member_text(db: Database) -> None:
    s = Seeder(db)
    idea = await s.idea(
        10, "<script>alert(1)</script>", '=HYPERLINK("http://x") @everyone', MONDAY + timedelta(hours=1)
    )
    await s.votes(idea, [1, 2], 1, MONDAY + timedelta(hours=2))
    digest = await DigestService(db, FakeClock(AFTER)).build(GUILD)
    assert "<script>" not in to_html(digest)
    assert "\\<script\\>" in to_markdown(digest)
    digest.top_new[0] = type(digest.top_new[0])(1, 1, "=cmd|' /C calc'!A0", "open")
    assert "'=cmd" in to_csv(digest)


def test_cli_export_writes_each_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    path = tmp_path / "ideabot.sqlite3"

    async def prepare() -> None:
        database = await Database.open(str(path))
        await seed_week(database)
        await database.close()

    asyncio.run(prepare())
    monkeypatch.setenv("IDEABOT_DATABASE", str(path))
    monkeypatch.setenv("IDEABOT_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    runner = CliRunner()
    for fmt in ("md", "html", "csv", "json"):
        out = tmp_path / f"digest.{fmt}"
        result = runner.invoke(
            main, ["digest", "export", "--guild", str(GUILD), "--format", fmt, "--week", "2025-W07", "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 100
    result = runner.invoke(main, ["digest", "export", "--guild", str(GUILD), "--format", "json", "--week", "2025-W07"])
    assert result.exit_code == 0 and json.loads(result.stdout)["counts"]["new_ideas"] == 3
    bad = runner.invoke(main, ["digest", "export", "--guild", str(GUILD), "--format", "md", "--week", "2025-07"])
    assert bad.exit_code == 2 and "ISO week" in bad.output
