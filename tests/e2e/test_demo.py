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


def test_demo_command_is_wired() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0 and "--members" in result.output
