"""A synthetic community for load tests: ideas (with made-up card ids: no message exists in
Discord), members and their votes, written in large batches with tallies that match the votes.

Ideas are dated from 170 days ago (the first) to 31 days ago (the last), so a bot started on
the database neither recounts their (missing) cards at start-up nor archives them at once."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.storage import Database, Row
from bot.storage.rows import to_ts

CHUNK = 5_000
DISCORD_EPOCH_MS = 1_420_070_400_000

SUBJECTS = (
    "dark mode",
    "offline maps",
    "recycle bins",
    "bike racks",
    "quiet rooms",
    "night buses",
    "shared calendar",
    "meal planner",
    "parking app",
    "library hours",
    "water fountains",
    "solar panels",
    "team chat",
    "search bar",
    "keyboard shortcuts",
    "export to pdf",
    "guest wifi",
    "standing desks",
    "reading lamps",
    "park benches",
    "noise filter",
    "language packs",
    "onboarding guide",
    "weekly newsletter",
    "accessible buttons",
    "price alerts",
)
VERBS = ("add", "improve", "fix", "bring back", "simplify", "extend", "speed up", "translate", "share", "rethink")
PLACES = (
    "in the mobile app",
    "on the website",
    "in the office",
    "for new members",
    "at the station",
    "in the park",
    "for night shifts",
    "on weekends",
    "for families",
    "in the settings",
    "for teachers",
    "for small shops",
)
REASONS = (
    "it saves time every day",
    "people keep asking for it",
    "the current one is confusing",
    "it is cheaper",
    "it helps people with low vision",
    "it cuts waste",
    "it makes evenings safer",
    "it is faster to learn",
)


@dataclass(frozen=True, slots=True)
class SeedReport:
    ideas: int
    votes: int
    members: int


def synthetic_texts(rng: random.Random) -> Iterator[tuple[str, str]]:
    while True:
        subject, place = rng.choice(SUBJECTS), rng.choice(PLACES)
        title = f"{rng.choice(VERBS).capitalize()} {subject} {place}"
        details = f"We should {rng.choice(VERBS)} {subject} {place}, because {rng.choice(REASONS)}."
        yield title[:100], details


def texts_from_file(path: Path) -> Iterator[tuple[str, str]]:
    """JSON lines with `title` and `details`; lines without both are skipped."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            item = json.loads(line)
            title, details = str(item.get("title", "")).strip(), str(item.get("details", "")).strip()
            if title and details:
                yield title[:100], details[:4000]


def snowflake(moment: datetime, serial: int) -> int:
    return ((int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22) | (serial & 0x3FFFFF)


async def seed_community(
    db: Database,
    guild_id: int,
    ideas: int,
    votes_per_idea: int,
    now: datetime,
    *,
    texts: Path | None = None,
    seed: int = 1,
    progress: Callable[[int], None] = lambda done: None,
) -> SeedReport:
    rng = random.Random(seed)
    members = max(votes_per_idea * 4, 200)
    member_ids = [snowflake(now - timedelta(days=400), 1_000_000 + i) for i in range(members)]
    joined_at = to_ts(now - timedelta(days=300))
    generated = synthetic_texts(rng)
    given = texts_from_file(texts) if texts is not None else iter(())
    conn = db.conn
    async with conn.execute("SELECT COALESCE(MAX(number), 0) FROM ideas WHERE guild_id = ?", (guild_id,)) as cursor:
        row = await cursor.fetchone()
    first_number = int(row[0]) + 1 if row else 1
    async with conn.execute("SELECT ideas_channel_id FROM guild_settings WHERE guild_id = ?", (guild_id,)) as cursor:
        settings = await cursor.fetchone()
    channel_id = int(settings[0]) if settings and settings[0] else snowflake(now, 7)
    total_votes = 0
    for start in range(0, ideas, CHUNK):
        count = min(CHUNK, ideas - start)
        idea_rows = []
        vote_plan: list[list[tuple[int, int]]] = []
        for offset in range(count):
            index = start + offset
            title, details = next(given, None) or next(generated)
            # Numbers follow time, as on a real board: the first idea seeded is the oldest.
            created = now - timedelta(days=170 - 139 * index / ideas)
            voters = rng.sample(member_ids, min(votes_per_idea, members))
            values = [1 if rng.random() < 0.75 else -1 for _ in voters]
            ups = values.count(1)
            ts = to_ts(created)
            idea_rows.append(
                (guild_id, first_number + index, rng.choice(member_ids), title, details, channel_id,
                 snowflake(created, index), ups, len(values) - ups, ts, ts, ts)
            )  # fmt: skip
            vote_plan.append(list(zip(voters, values, strict=True)))
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO ideas (guild_id, number, author_id, title, body, channel_id, message_id, upvotes,"
                " downvotes, created_at, updated_at, last_activity_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                idea_rows,
            )
            numbers = (first_number + start, first_number + start + count - 1)
            async with tx.execute(
                "SELECT id, number, created_at FROM ideas WHERE guild_id = ? AND number BETWEEN ? AND ?"
                " ORDER BY number",
                (guild_id, *numbers),
            ) as cursor:
                inserted: list[Row] = list(await cursor.fetchall())
            vote_rows = [
                (row[0], voter, value, joined_at, row[2], row[2], 1)
                for row, votes in zip(inserted, vote_plan, strict=True)
                for voter, value in votes
            ]
            await tx.executemany(
                "INSERT INTO votes (idea_id, voter_id, value, voter_joined_at, created_at, updated_at,"
                " reaction_backed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                vote_rows,
            )
        total_votes += len(vote_rows)
        progress(count)
    return SeedReport(ideas, total_votes, members)
