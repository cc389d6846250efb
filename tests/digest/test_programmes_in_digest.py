"""The digest reports what the innovation programme records, on a real SQLite database:
support-stage crossings from threshold_crossings, ideas archived and expired during the week,
challenges closed with their winners, each idea's contribution-terms version in every export,
and never the author of an anonymous idea."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.digest.exports import to_csv, to_html, to_json, to_markdown
from bot.digest.render import digest_embeds
from bot.digest.rules import Digest
from bot.digest.service import DigestService
from bot.ideas import storage as idea_queries
from bot.ideas.rules import IdeaDraft
from bot.programmes import storage as programme_queries
from bot.programmes.rules import TRACKED_STATUSES
from bot.programmes.storage import Winner
from bot.storage import Database
from bot.storage.rows import to_ts
from bot.testing import FakeClock
from tests.digest.test_service import AFTER, GUILD, MONDAY, Seeder, seed_week

ANON = 777_000_111  # the author of the anonymous idea: must appear in no digest output
TERMS = "2025-1"


@pytest.fixture
async def db(database_target: str) -> AsyncIterator[Database]:
    database = await Database.open(database_target)
    try:
        yield database
    finally:
        await database.close()


async def seed_programme(db: Database) -> dict[str, int]:
    """seed_week plus a week of programme facts (and some just outside the week)."""
    ids = await seed_week(db)
    s = Seeder(db)
    ids["printer"] = await s.idea(
        20, "Printer in the lobby", "A shared printer downstairs", MONDAY - timedelta(days=200)
    )
    ids["mugs"] = await s.idea(20, "Old mug rack", "Somewhere to hang mugs", MONDAY - timedelta(days=200))
    ids["alerts"] = await s.idea(21, "Sound alerts", "A sound when a build finishes", MONDAY - timedelta(days=40))
    async with db.transaction() as conn:
        secret = await idea_queries.insert_idea(
            conn,
            GUILD,
            ANON,
            IdeaDraft("Secret roadmap", "Publish the roadmap without naming me"),
            MONDAY + timedelta(days=1),
            terms_version=TERMS,
            anonymous=True,
        )
        await idea_queries.attach_card(conn, secret.id, channel_id=5, message_id=990_001, thread_id=None)
    ids["secret"] = secret.id
    await s.votes(ids["secret"], range(500, 504), 1, MONDAY + timedelta(days=1, hours=5))
    async with db.transaction() as conn:
        await conn.execute("UPDATE ideas SET terms_version = ? WHERE id = ?", (TERMS, ids["dark2"]))
        await conn.execute("UPDATE ideas SET terms_version = 'v0' WHERE id = ?", (ids["printer"],))
        await programme_queries.save_stages(conn, GUILD, "3/30 5/60", MONDAY - timedelta(days=90))
        crossings = [
            (ids["waiting"], 1, 3, MONDAY - timedelta(days=5)),  # last week
            (ids["secret"], 1, 3, MONDAY + timedelta(days=1, hours=6)),
            (ids["old"], 1, 3, MONDAY + timedelta(days=2)),
            (ids["old"], 2, 5, MONDAY + timedelta(days=2, hours=1)),
            (ids["dark2"], 1, 3, MONDAY + timedelta(days=7, hours=1)),  # next week
        ]
        for idea_id, stage, votes, at in crossings:
            assert await programme_queries.record_crossing(conn, GUILD, idea_id, stage, votes, at)
        tracked, quiet = tuple(TRACKED_STATUSES), MONDAY + timedelta(days=30)
        assert await programme_queries.mark_archived(
            conn, ids["printer"], tracked, quiet, MONDAY + timedelta(days=3, hours=2)
        )
        # archived last week
        assert await programme_queries.mark_archived(conn, ids["mugs"], tracked, quiet, MONDAY - timedelta(days=2))
        alerts = await programme_queries.tracked_idea(conn, ids["alerts"])
        assert alerts is not None
        assert await programme_queries.mark_expired(conn, alerts, tracked, MONDAY + timedelta(days=5, hours=4))
        # A challenge closed during the week, won by the anonymous idea; one closed the week before.
        challenge = await programme_queries.insert_challenge(
            conn, GUILD, "Greener office", "Ideas to cut our energy use", "A day off", MONDAY, 99, MONDAY
        )
        assert await programme_queries.close_challenge(conn, challenge.id, None, MONDAY + timedelta(days=4))
        await programme_queries.record_winner(
            conn, Winner(challenge.id, 1, ids["secret"], ANON, 15), MONDAY + timedelta(days=4)
        )
        await programme_queries.record_winner(
            conn, Winner(challenge.id, 2, ids["dark2"], 14, 10), MONDAY + timedelta(days=4)
        )
        earlier = await programme_queries.insert_challenge(
            conn, GUILD, "Quieter office", "Ideas to cut the noise", None, MONDAY, 99, MONDAY - timedelta(days=20)
        )
        await programme_queries.close_challenge(conn, earlier.id, None, MONDAY - timedelta(days=1))
        # Reputation: the anonymous author's points all come from the anonymous idea.
        for user, delta, idea_id, source, day in (
            (ANON, 2, ids["secret"], "submission", 1),
            (ANON, 15, ids["secret"], "challenge_win", 4),
            (14, 10, ids["dark2"], "challenge_win", 4),
            (20, 1, None, "bonus", 5),
        ):
            await conn.execute(
                "INSERT INTO reputation_events (guild_id, user_id, delta, reason, idea_id, source, at)"
                " VALUES (?, ?, ?, 'r', ?, ?, ?)",
                (GUILD, user, delta, idea_id, source, to_ts(MONDAY + timedelta(days=day))),
            )
    return ids


def outputs(digest: Digest) -> dict[str, str]:
    embeds = [embed.to_dict() for message in digest_embeds(digest) for embed in message]
    return {
        "embeds": json.dumps(embeds, ensure_ascii=False),
        "md": to_markdown(digest),
        "html": to_html(digest),
        "csv": to_csv(digest),
        "json": to_json(digest),
    }


async def test_the_digest_model_reads_the_programme_facts_of_the_week(db: Database) -> None:
    ids = await seed_programme(db)
    digest = await DigestService(db, FakeClock(AFTER)).build(GUILD)
    # Crossings come from threshold_crossings, in the order they happened, described by the stages.
    assert [(c.idea.id, c.stage, c.describe()) for c in digest.crossed] == [
        (ids["secret"], 1, "stage 1: 3 upvotes within 30 days"),
        (ids["old"], 1, "stage 1: 3 upvotes within 30 days"),
        (ids["old"], 2, "stage 2: 5 upvotes within 60 days"),
    ]
    assert digest.crossed_total == 3 and digest.crossed[0].votes == 3
    assert digest.crossed[1].at == MONDAY + timedelta(days=2)
    assert [(i.id, i.note, i.terms_version) for i in digest.archived] == [(ids["printer"], "archived Thu 13 Feb", "v0")]
    assert [(i.id, i.note) for i in digest.expired] == [(ids["alerts"], "expired Sat 15 Feb")]
    assert (digest.archived_total, digest.expired_total) == (1, 1)
    [challenge] = digest.challenges
    assert (challenge.number, challenge.title, challenge.award) == (1, "Greener office", "A day off")
    assert [(w.place, w.idea.id, w.points) for w in challenge.winners] == [
        (1, ids["secret"], 15),
        (2, ids["dark2"], 10),
    ]
    assert {i.id: i.terms_version for i in digest.top_new}[ids["dark2"]] == TERMS
    # The anonymous author's points came from the anonymous idea: left out of the public list.
    assert [(c.user_id, c.points) for c in digest.contributors] == [(14, 10), (20, 1)]
    assert not digest.is_quiet


async def test_every_export_lists_crossings_archived_expired_challenges_and_terms(db: Database) -> None:
    await seed_programme(db)
    digest = await DigestService(db, FakeClock(AFTER)).build(GUILD)
    out = outputs(digest)
    for fmt in ("embeds", "md", "html", "csv", "json"):
        text = out[fmt]
        assert "stage 2: 5 upvotes within 60 days" in text, fmt
        assert "Printer in the lobby" in text and "Sound alerts" in text, fmt
        assert "Greener office" in text and "Quieter office" not in text, fmt
        assert "Old mug rack" not in text, fmt  # archived the week before
    for fmt in ("md", "html", "csv", "json"):
        assert TERMS in out[fmt] and "v0" in out[fmt], fmt
    md = out["md"].replace("\\", "")
    assert "- #9 Printer in the lobby (👍 0 👎 0) [terms v0] — archived Thu 13 Feb" in md
    assert "- #12 Secret roadmap (👍 4 👎 0) [terms 2025-1] — stage 1: 3 upvotes within 30 days" in md
    assert "Challenge #1 Greener office (award: A day off): 1st #12 Secret roadmap" in md
    fields = {f["name"]: f["value"] for m in digest_embeds(digest) for e in m for f in e.to_dict().get("fields", [])}
    assert fields["Reached a support stage"].count("stage ") == 3
    assert "archived Thu 13 Feb" in fields["Archived (no answer and no votes for too long)"]
    assert "expired Sat 15 Feb" in fields["Expired (missed a support stage deadline)"]
    assert fields["Challenges closed"].startswith("Challenge #1 Greener office (award: A day off): 1st #12 Secret")

    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    by_section: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_section.setdefault(row["section"], []).append(row)
    assert [(r["number"], r["score"], r["detail"]) for r in by_section["crossed"]] == [
        ("12", "1", "stage 1: 3 upvotes within 30 days"),
        ("1", "1", "stage 1: 3 upvotes within 30 days"),
        ("1", "2", "stage 2: 5 upvotes within 60 days"),
    ]
    assert [(r["number"], r["terms_version"]) for r in by_section["archived"]] == [("9", "v0")]
    assert [r["number"] for r in by_section["expired"]] == ["11"]
    assert {r["number"]: r["terms_version"] for r in by_section["top_new"]}["5"] == TERMS
    assert [(r["number"], r["score"]) for r in by_section["challenge_winner"]] == [("12", "15"), ("5", "10")]
    counts = {r["title"]: r["score"] for r in by_section["count"]}
    assert (counts["crossed"], counts["archived"], counts["expired"]) == ("3", "1", "1")

    data = json.loads(out["json"])
    assert "crossed_threshold" not in data
    crossed = data["crossed_stages"]
    assert crossed["total"] == 3 and [c["stage"] for c in crossed["crossings"]] == [1, 1, 2]
    assert crossed["crossings"][2]["requirement"] == "5 upvotes within 60 days"
    assert crossed["crossings"][0]["terms_version"] == TERMS and crossed["crossings"][1]["terms_version"] is None
    assert data["archived"] == {"total": 1, "ideas": [data["archived"]["ideas"][0]]}
    assert data["archived"]["ideas"][0]["number"] == 9 and data["archived"]["ideas"][0]["terms_version"] == "v0"
    assert [i["number"] for i in data["expired"]["ideas"]] == [11]
    [challenge] = data["challenges_closed"]
    assert [(w["place"], w["number"], w["terms_version"]) for w in challenge["winners"]] == [
        (1, 12, TERMS),
        (2, 5, TERMS),
    ]
    assert all("terms_version" in s for s in data["status_changes"])


async def test_no_output_reveals_the_author_of_an_anonymous_idea(db: Database) -> None:
    ids = await seed_programme(db)
    digest = await DigestService(db, FakeClock(AFTER)).build(GUILD)
    # The anonymous idea is everywhere it belongs: top new, crossed, challenge winner...
    assert ids["secret"] in {i.id for i in digest.top_new}
    assert ids["secret"] in {c.idea.id for c in digest.crossed}
    for fmt, text in outputs(digest).items():
        assert "Secret roadmap" in text, fmt
        assert str(ANON) not in text, fmt  # ...but its author id is nowhere: not as a line, mention or winner
    # Nor in the model itself (IdeaLine has no author; contributors leave the anonymous points out).
    assert str(ANON) not in repr(digest)


async def test_crossings_use_the_default_stages_without_programme_settings(db: Database) -> None:
    ids = await seed_week(db)
    async with db.transaction() as conn:
        await programme_queries.record_crossing(conn, GUILD, ids["old"], 1, 10, MONDAY + timedelta(days=2))
        await programme_queries.record_crossing(conn, GUILD, ids["old"], 4, 90, MONDAY + timedelta(days=3))
        await conn.execute("INSERT INTO programme_settings (guild_id, stages, updated_at) VALUES (2, '1/x', 0)")
    digest = await DigestService(db, FakeClock(AFTER)).build(GUILD)
    assert [c.describe() for c in digest.crossed] == ["stage 1: 10 upvotes within 30 days", "stage 4"]
    # Another guild's crossings, archives and expiries never leak in; unreadable stages fall back.
    other = await DigestService(db, FakeClock(AFTER)).build(2)
    assert other.crossed == other.archived == other.expired == other.challenges == []
