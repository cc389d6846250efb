"""Digest build time and peak memory for 1k, 10k and 100k ideas (10 votes each).

    uv run python bench/digest_build.py            # writes bench/results/digest_build.json

Each size is generated straight into a fresh SQLite file with executemany (ideas spread over a
year, so a week holds about 2% of them), then built in a separate process so its peak RSS is the
digest build's own: open the database, run every aggregate query, rank, keyword themes (no LLM).
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SIZES = (1_000, 10_000, 100_000)
VOTES_PER_IDEA = 10
GUILD = 1
END = datetime(2025, 2, 17, 9, 30, tzinfo=UTC)  # Monday of 2025-W08: the digest covers W07
SPAN = timedelta(days=364)
_WORD_TEXT = (
    "dark mode theme export csv report search faster mobile app notification calendar sync offline upload "
    "image profile banner keyboard shortcut roadmap billing invoice voice channel archive reminder deadline"
)
WORDS = _WORD_TEXT.split(" ")
RESULTS = Path(__file__).parent / "results" / "digest_build.json"


async def generate(path: str, ideas: int) -> None:
    from bot.storage import Database

    db = await Database.open(path)
    await db.close()
    import sqlite3

    rng = random.Random(ideas)
    start = (END - SPAN).timestamp()
    week_end = datetime(2025, 2, 17, tzinfo=UTC).timestamp()
    span = week_end - start
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute(
        "INSERT INTO guild_settings (guild_id, ideas_channel_id, digest_channel_id, updated_at) VALUES (?, 5, 6, 0)",
        (GUILD,),
    )
    created = sorted(start + rng.random() * span for _ in range(ideas))

    def idea_rows():  # type: ignore[no-untyped-def]
        for number, at in enumerate(created, 1):
            title = " ".join(rng.choice(WORDS) for _ in range(4))
            body = " ".join(rng.choice(WORDS) for _ in range(25))
            status = "open" if rng.random() < 0.8 else rng.choice(["planned", "declined", "under_review"])
            ups = 0
            yield (number, GUILD, number, 10_000 + number % 500, title, body, status, 100 + number, at, at, at, ups)

    conn.executemany(
        "INSERT INTO ideas (id, guild_id, number, author_id, title, body, status, message_id, created_at,"
        " updated_at, last_activity_at, upvotes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        idea_rows(),
    )

    def vote_rows():  # type: ignore[no-untyped-def]
        for number, at in enumerate(created, 1):
            for voter in rng.sample(range(1, 5000), VOTES_PER_IDEA):
                when = min(at + rng.expovariate(1 / (86400 * 5)), week_end - 1)
                yield (number, voter, 1 if rng.random() < 0.8 else -1, when, when)

    conn.executemany(
        "INSERT INTO votes (idea_id, voter_id, value, created_at, updated_at) VALUES (?, ?, ?, ?, ?)", vote_rows()
    )
    conn.execute(
        "UPDATE ideas SET upvotes = (SELECT COUNT(*) FROM votes WHERE idea_id = ideas.id AND value = 1),"
        " downvotes = (SELECT COUNT(*) FROM votes WHERE idea_id = ideas.id AND value = -1)"
    )
    conn.executemany(
        "INSERT INTO status_history (idea_id, old_status, new_status, reason, moderator_id, at)"
        " SELECT id, 'open', status, 'decided', 1, created_at + 86400 FROM ideas WHERE id % ? = 0 AND status != 'open'",
        [(7,)],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def build(path: str) -> dict[str, float | int]:
    from bot.digest.service import DigestService
    from bot.storage import Database

    started = time.perf_counter()
    db = await Database.open(path)
    digest = await DigestService(db, lambda: END).build(GUILD)
    elapsed = time.perf_counter() - started
    await db.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "build_seconds": round(elapsed, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "week_new_ideas": digest.counts.new_ideas,
        "week_votes": digest.counts.votes,
        "themes": len(digest.themes),
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--build":
        print(json.dumps(asyncio.run(build(sys.argv[2]))))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            path = str(Path(tmp) / f"bench-{size}.sqlite3")
            t0 = time.perf_counter()
            asyncio.run(generate(path, size))
            generated = time.perf_counter() - t0
            out = subprocess.run(
                [sys.executable, __file__, "--build", path], check=True, capture_output=True, text=True
            ).stdout
            row = {"ideas": size, "votes": size * VOTES_PER_IDEA, "generate_seconds": round(generated, 1)}
            row.update(json.loads(out.strip().splitlines()[-1]))
            results.append(row)
            print(json.dumps(row), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"benchmark": "digest_build", "python": sys.version.split()[0], "results": results}, indent=2) + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
